"""The edge to the Kubernetes API: the official client, and what its failures mean for us.

Every call goes through ``Kube._call``, which turns the client's exceptions into two kinds:
``TransientError`` (5xx, 429 with its Retry-After, connection errors, timeouts: try again later)
and ``PermanentError`` (any other refusal, carrying the API's own message). Objects travel as
plain dicts, the same shape the manifest builders produce; responses are parsed from the raw
JSON rather than into the client's model classes, which costs a lot of CPU per object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from config.settings import Settings
from scheduler.naming import LESSON_ID

NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"

Obj = dict[str, Any]


class KubeError(Exception):
    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


class TransientError(KubeError):
    """Worth retrying: the API was unavailable, overloaded or slow."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, status=status, reason=reason)
        self.retry_after = retry_after


class PermanentError(KubeError):
    """The API refused for good (or the object belongs to someone else)."""


_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify(error: ApiException) -> KubeError:
    """An ApiException as a TransientError or a PermanentError with the Status message."""
    try:
        body = json.loads(error.body) if error.body else {}
    except (TypeError, ValueError):
        body = {}
    return from_status(int(error.status or 0), error.reason, body, error.headers)


def from_status(
    code: int, reason: str | None, status: object, headers: Mapping[str, str] | None = None
) -> KubeError:
    """The error a failure Status (or a bare HTTP code and reason) stands for."""
    message = f"{code} {reason}"
    if isinstance(status, dict) and status.get("kind") == "Status":
        reason = status.get("reason") or reason
        message = str(status.get("message") or message)
    if code in _TRANSIENT_STATUSES or code >= 500 or code == 0:
        return TransientError(
            message, status=code, reason=reason, retry_after=_retry_after(headers)
        )
    if code == 410:
        # A watch fell too far behind (Expired/Gone): list again and carry on.
        return TransientError(message, status=code, reason=reason, retry_after=0)
    return PermanentError(message, status=code, reason=reason)


def api_client(settings: Settings) -> k8s.ApiClient:
    """A client for the configured cluster: a plain URL, a kubeconfig, or in-cluster."""
    configuration = k8s.Configuration()
    if settings.kube_url is not None:
        configuration.host = str(settings.kube_url).rstrip("/")
    elif settings.kubeconfig is not None:
        k8s_config.load_kube_config(
            config_file=str(settings.kubeconfig),
            context=settings.kube_context,
            client_configuration=configuration,
        )
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException:
            k8s_config.load_kube_config(
                context=settings.kube_context, client_configuration=configuration
            )
    # Steps create objects in parallel; every thread needs a pooled connection.
    configuration.connection_pool_maxsize = settings.api_parallelism + 2
    # Only retry what never reached the server; everything else is ours to retry, with backoff.
    configuration.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0)
    return k8s.ApiClient(configuration)


@dataclass(frozen=True)
class Created:
    obj: Obj
    created: bool


def owner_of(obj: Obj) -> str | None:
    labels = obj.get("metadata", {}).get("labels") or {}
    owner = labels.get(LESSON_ID)
    return str(owner) if owner is not None else None


def is_terminating(obj: Obj) -> bool:
    return obj.get("metadata", {}).get("deletionTimestamp") is not None


def describe(manifest: Obj) -> str:
    metadata = manifest.get("metadata", {})
    where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{manifest.get('kind')} {where}{metadata.get('name')}"


class Kube:
    """The Kubernetes calls lessonq makes, and nothing else."""

    def __init__(self, api: k8s.ApiClient, *, timeout: float, parallelism: int) -> None:
        self._api = api
        self._timeout = timeout
        self._core = k8s.CoreV1Api(api)
        self._networking = k8s.NetworkingV1Api(api)
        self._custom = k8s.CustomObjectsApi(api)
        self._pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="kube")

    @classmethod
    def from_settings(cls, settings: Settings) -> Kube:
        return cls(
            api_client(settings),
            timeout=settings.api_timeout,
            parallelism=settings.api_parallelism,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._api.close()

    # The one place client calls happen.

    def _call_raw(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("_request_timeout", self._timeout)
        try:
            return method(*args, _preload_content=False, **kwargs)
        except ApiException as error:
            raise classify(error) from None
        except urllib3.exceptions.HTTPError as error:
            raise TransientError(f"Kubernetes API unreachable: {error}") from None

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
        try:
            data = self._call_raw(method, *args, **kwargs).data
        except urllib3.exceptions.HTTPError as error:
            raise TransientError(f"Kubernetes API response broke off: {error}") from None
        return json.loads(data) if data else {}

    # Create or adopt.

    def _create(self, manifest: Obj) -> Obj:
        kind = manifest["kind"]
        namespace = manifest["metadata"].get("namespace")
        if kind == "Namespace":
            return self._call(self._core.create_namespace, manifest)
        if kind == "Pod":
            return self._call(self._core.create_namespaced_pod, namespace, manifest)
        if kind == "Service":
            return self._call(self._core.create_namespaced_service, namespace, manifest)
        if kind == "NetworkPolicy":
            return self._call(
                self._networking.create_namespaced_network_policy, namespace, manifest
            )
        if kind == "NetworkAttachmentDefinition":
            return self._call(
                self._custom.create_namespaced_custom_object,
                NAD_GROUP,
                NAD_VERSION,
                namespace,
                NAD_PLURAL,
                manifest,
            )
        raise ValueError(f"lessonq does not create {kind} objects")

    def _read(self, manifest: Obj) -> Obj:
        kind = manifest["kind"]
        name = manifest["metadata"]["name"]
        namespace = manifest["metadata"].get("namespace")
        if kind == "Namespace":
            return self._call(self._core.read_namespace, name)
        if kind == "Pod":
            return self._call(self._core.read_namespaced_pod, name, namespace)
        if kind == "Service":
            return self._call(self._core.read_namespaced_service, name, namespace)
        if kind == "NetworkPolicy":
            return self._call(self._networking.read_namespaced_network_policy, name, namespace)
        if kind == "NetworkAttachmentDefinition":
            return self._call(
                self._custom.get_namespaced_custom_object,
                NAD_GROUP,
                NAD_VERSION,
                namespace,
                NAD_PLURAL,
                name,
            )
        raise ValueError(f"lessonq does not read {kind} objects")

    def create_or_get(self, manifest: Obj) -> Created:
        """Create the object; if it already exists, return the one that is there."""
        try:
            return Created(self._create(manifest), created=True)
        except PermanentError as error:
            if error.reason != "AlreadyExists":
                raise PermanentError(
                    f"{describe(manifest)}: {error.message}",
                    status=error.status,
                    reason=error.reason,
                ) from None
        return Created(self._read(manifest), created=False)

    def ensure(self, manifest: Obj, owner: str) -> Obj:
        """Make the object exist; one that exists already must belong to `owner`."""
        result = self.create_or_get(manifest)
        if not result.created and owner_of(result.obj) != owner:
            other = owner_of(result.obj)
            whose = f"lesson {other}" if other else "something not managed by lessonq"
            raise PermanentError(f"{describe(manifest)} already exists and belongs to {whose}")
        return result.obj

    def ensure_all(self, manifests: list[Obj], owner: str) -> list[Obj]:
        """`ensure` each manifest, in parallel; a permanent failure wins over a transient one."""
        futures = [self._pool.submit(self.ensure, manifest, owner) for manifest in manifests]
        results: list[Obj] = []
        errors: list[KubeError] = []
        for future in futures:
            try:
                results.append(future.result())
            except KubeError as error:
                errors.append(error)
        permanent = [e for e in errors if isinstance(e, PermanentError)]
        if permanent or errors:
            raise (permanent or errors)[0]
        return results

    # Namespaces.

    def get_namespace(self, name: str) -> Obj | None:
        try:
            return self._call(self._core.read_namespace, name)
        except PermanentError as error:
            if error.status == 404:
                return None
            raise

    def list_namespaces(self, label_selector: str) -> list[Obj]:
        items: list[Obj] = self._call(self._core.list_namespace, label_selector=label_selector).get(
            "items", []
        )
        return items

    def delete_namespace(self, name: str, uid: str) -> Obj | None:
        """Delete that namespace (by uid: never a newer one with the same name).

        Returns the terminating namespace, or None when it is already gone or replaced.
        """
        options = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
        try:
            return self._call(self._core.delete_namespace, name, body=options)
        except PermanentError as error:
            # 404: gone; 409: the precondition failed, so the namespace there is another one.
            if error.status in (404, 409):
                return None
            raise

    # Pods.

    def list_pods(self, namespace: str, label_selector: str) -> tuple[list[Obj], str]:
        listing = self._call(
            self._core.list_namespaced_pod, namespace, label_selector=label_selector
        )
        return listing.get("items", []), str(listing.get("metadata", {}).get("resourceVersion"))

    def watch_pods(
        self, namespace: str, label_selector: str, since: str, seconds: float
    ) -> Generator[tuple[str, Obj], None, None]:
        for event in self._watch(
            self._core.list_namespaced_pod,
            seconds,
            since,
            namespace,
            label_selector=label_selector,
        ):
            yield event["type"], event["object"]

    def _watch(
        self, method: Callable[..., Any], seconds: float, since: str, *args: Any, **kwargs: Any
    ) -> Generator[Obj, None, None]:
        """Stream watch events (bookmarks skipped) for at most `seconds`.

        Parsed here rather than by kubernetes.watch.Watch, which builds a model object per event
        and cannot report an ERROR event without doing so.
        """
        response = self._call_raw(
            method,
            *args,
            watch=True,
            resource_version=since,
            timeout_seconds=max(1, int(seconds)),
            allow_watch_bookmarks=True,
            _request_timeout=seconds + self._timeout,
            **kwargs,
        )
        try:
            for line in iter_resp_lines(response):
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise from_status(int(status.get("code") or 0), status.get("reason"), status)
                if event.get("type") != "BOOKMARK":
                    yield event
        except urllib3.exceptions.HTTPError as error:
            raise TransientError(f"Kubernetes API watch broke off: {error}") from None
        finally:
            response.close()
            response.release_conn()
