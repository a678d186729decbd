"""The edge to the Kubernetes API: the calls lessonq makes, and nothing else.

`KubeApi` is what the workers need of a cluster; `Kube` implements it with the official client,
one code path for every kind (``kube.kinds``). Objects travel as plain dicts, the shape the
manifest builders produce, and answers are parsed from the raw JSON rather than into the
client's model classes, which cost a lot of CPU per object (and to import). Every failure is
sorted into a TransientError or a PermanentError (``kube.errors``) before it leaves this module.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import NamedTuple, Protocol

import urllib3
from kubernetes.client.api_client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTResponse
from kubernetes.watch.watch import iter_resp_lines

from config.settings import Settings
from kube.client import api_client
from kube.errors import PermanentError, TransientError, classify, from_response, from_status
from kube.kinds import POD, Kind, kind_of
from kube.objects import Obj, describe

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"


class Listing(NamedTuple):
    items: list[Obj]
    resource_version: str


class WatchEvent(NamedTuple):
    type: str  # ADDED, MODIFIED or DELETED
    obj: Obj


class KubeApi(Protocol):
    def create(self, manifest: Obj) -> Obj:
        """Create the object; PermanentError with reason AlreadyExists when its name is taken."""
        ...

    def read(self, kind: Kind, name: str, namespace: str | None = None) -> Obj | None:
        """The object, or None when there is none."""
        ...

    def listing(self, kind: Kind, namespace: str | None, label_selector: str) -> Listing: ...

    def watch(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str,
        since: str,
        seconds: float,
    ) -> Generator[WatchEvent, None, None]:
        """Changes after resourceVersion `since`, for at most `seconds` (no bookmarks)."""
        ...

    def delete(
        self,
        kind: Kind,
        name: str,
        uid: str,
        namespace: str | None = None,
        grace_seconds: int | None = None,
    ) -> Obj | None:
        """Delete that object (by uid: never a newer one of the same name), its dependents in
        the background; with `grace_seconds` (0: at once). Returns it while it terminates, None
        when it is gone or replaced."""
        ...

    def merge_patch(
        self, kind: Kind, name: str, patch: Obj, namespace: str | None = None
    ) -> Obj | None:
        """Apply a JSON merge patch (RFC 7386); None when the object does not exist."""
        ...

    def patch_status(
        self, kind: Kind, name: str, status: Obj, namespace: str | None = None
    ) -> Obj | None:
        """Change an object's status through its status subresource, a strategic merge patch
        (a pod's conditions merge by type); None when the object does not exist."""
        ...

    def log(self, namespace: str, pod: str, tail_lines: int, limit_bytes: int) -> str:
        """The last lines a pod's (only) container printed, at most `limit_bytes`."""
        ...

    def close(self) -> None: ...


class Kube:
    def __init__(self, api: ApiClient, *, timeout: float) -> None:
        self._api = api
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> Kube:
        return cls(api_client(settings), timeout=settings.api_timeout)

    def close(self) -> None:
        self._api.close()

    def create(self, manifest: Obj) -> Obj:
        kind = kind_of(manifest)
        path = kind.path(manifest["metadata"].get("namespace"))
        try:
            return self._call("POST", path, body=manifest)
        except PermanentError as error:
            raise PermanentError(
                f"{describe(manifest)}: {error.message}", status=error.status, reason=error.reason
            ) from None

    def read(self, kind: Kind, name: str, namespace: str | None = None) -> Obj | None:
        return self._unless_missing("GET", kind.path(namespace, name))

    def listing(self, kind: Kind, namespace: str | None, label_selector: str) -> Listing:
        path = kind.path(namespace) if namespace is not None else kind.everywhere
        found = self._call("GET", path, query=[("labelSelector", label_selector)])
        version = str(found.get("metadata", {}).get("resourceVersion"))
        return Listing(found.get("items", []), version)

    def delete(
        self,
        kind: Kind,
        name: str,
        uid: str,
        namespace: str | None = None,
        grace_seconds: int | None = None,
    ) -> Obj | None:
        options: Obj = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        try:
            return self._call("DELETE", kind.path(namespace, name), body=options)
        except PermanentError as error:
            # 404: gone; 409: the precondition failed, so the object there is another one.
            if error.status in (404, 409):
                return None
            raise

    def merge_patch(
        self, kind: Kind, name: str, patch: Obj, namespace: str | None = None
    ) -> Obj | None:
        path = kind.path(namespace, name)
        return self._unless_missing("PATCH", path, body=patch, content_type=MERGE_PATCH)

    def patch_status(
        self, kind: Kind, name: str, status: Obj, namespace: str | None = None
    ) -> Obj | None:
        path = kind.path(namespace, name) + "/status"
        return self._unless_missing(
            "PATCH", path, body={"status": status}, content_type=STRATEGIC_MERGE
        )

    def watch(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str,
        since: str,
        seconds: float,
    ) -> Generator[WatchEvent, None, None]:
        query = [
            ("labelSelector", label_selector),
            ("watch", "true"),
            ("resourceVersion", since),
            ("timeoutSeconds", str(max(1, int(seconds)))),
            ("allowWatchBookmarks", "true"),
        ]
        response = self._send("GET", kind.path(namespace), query, None, seconds + self._timeout)
        try:
            for line in iter_resp_lines(response.response):
                if not line:
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise from_status(int(status.get("code") or 0), status.get("reason"), status)
                if event.get("type") != "BOOKMARK":
                    yield WatchEvent(event["type"], event["object"])
        except urllib3.exceptions.HTTPError as error:
            raise TransientError(f"Kubernetes API watch broke off: {error}") from None
        finally:
            response.response.close()
            response.response.release_conn()

    def log(self, namespace: str, pod: str, tail_lines: int, limit_bytes: int) -> str:
        query = [("tailLines", str(tail_lines)), ("limitBytes", str(limit_bytes))]
        path = POD.path(namespace, pod) + "/log"
        response = self._send("GET", path, query, None, self._timeout, accept="text/plain")
        return _body(response).decode("utf-8", errors="replace")

    # The one place requests are made.

    def _unless_missing(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> Obj | None:
        """`_call`, None when the object is not there (404)."""
        try:
            return self._call(method, path, body=body, content_type=content_type)
        except PermanentError as error:
            if error.status == 404:
                return None
            raise

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        response = self._send(method, path, query, body, self._timeout, content_type=content_type)
        data = _body(response)
        return json.loads(data) if data else {}

    def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None,
        body: Obj | None,
        timeout: float,
        accept: str = "application/json",
        content_type: str = "application/json",
    ) -> RESTResponse:
        """Send a request; its answer when it is 2xx, else the error it stands for."""
        request = self._api.param_serialize(
            method,
            path,
            query_params=query,
            header_params={"Accept": accept, "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response: RESTResponse = self._api.call_api(*request, _request_timeout=timeout)
        except ApiException as error:  # the client's own wrapping of TLS and protocol errors
            raise classify(error) from None
        except urllib3.exceptions.HTTPError as error:
            raise TransientError(f"Kubernetes API unreachable: {error}") from None
        if not 200 <= response.status <= 299:
            try:
                body_text = response.read()
            except urllib3.exceptions.HTTPError:
                body_text = None
            raise from_response(response.status, response.reason, body_text, response.headers)
        return response


def _body(response: RESTResponse) -> bytes:
    """A 2xx answer's body; a connection that broke off while it came is worth retrying."""
    try:
        return bytes(response.read())
    except urllib3.exceptions.HTTPError as error:
        raise TransientError(f"Kubernetes API response broke off: {error}") from None
