"""Reading what is really in kubesim, with the official client, for assertions."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kube.kinds import NETWORK_ATTACHMENT_DEFINITION as NAD


class ClusterView:
    def __init__(self, target: str | k8s.Configuration) -> None:
        """`target`: kubesim's URL, or a configuration with a server's address and credentials."""
        if isinstance(target, str):
            configuration = k8s.Configuration()
            configuration.host = target
        else:
            configuration = target
        self.api = k8s.ApiClient(configuration)
        self.core = k8s.CoreV1Api(self.api)
        self.networking = k8s.NetworkingV1Api(self.api)
        self.batch = k8s.BatchV1Api(self.api)
        self.custom = k8s.CustomObjectsApi(self.api)

    def _dict(self, obj: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.api.sanitize_for_serialization(obj)
        return result

    def namespace(self, name: str) -> dict[str, Any] | None:
        try:
            return self._dict(self.core.read_namespace(name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def namespaces(self, label_selector: str = "") -> list[dict[str, Any]]:
        return [
            self._dict(ns) for ns in self.core.list_namespace(label_selector=label_selector).items
        ]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        if kind == "Namespace":
            found = self.namespace(name)
            assert found is not None, f"namespace {name} is missing"
            return found
        if kind == "Pod":
            return self._dict(self.core.read_namespaced_pod(name, namespace))
        if kind == "Service":
            return self._dict(self.core.read_namespaced_service(name, namespace))
        if kind == "ConfigMap":
            return self._dict(self.core.read_namespaced_config_map(name, namespace))
        if kind == "Secret":
            return self._dict(self.core.read_namespaced_secret(name, namespace))
        if kind == "Job":
            return self._dict(self.batch.read_namespaced_job(name, namespace))
        if kind == "NetworkPolicy":
            return self._dict(self.networking.read_namespaced_network_policy(name, namespace))
        if kind == "Ingress":
            return self._dict(self.networking.read_namespaced_ingress(name, namespace))
        if kind == "NetworkAttachmentDefinition":
            result: dict[str, Any] = self.custom.get_namespaced_custom_object(
                NAD.group, NAD.version, namespace, NAD.plural, name
            )
            return result
        raise ValueError(kind)

    def contents(self, namespace: str) -> dict[str, list[str]]:
        """Names of every kind lessonq creates, in a namespace."""
        nads = self.custom.list_namespaced_custom_object(
            NAD.group, NAD.version, namespace, NAD.plural
        )
        return {
            "pods": [p.metadata.name for p in self.core.list_namespaced_pod(namespace).items],
            "services": [
                s.metadata.name for s in self.core.list_namespaced_service(namespace).items
            ],
            "networkpolicies": [
                p.metadata.name
                for p in self.networking.list_namespaced_network_policy(namespace).items
            ],
            "network-attachment-definitions": [n["metadata"]["name"] for n in nads["items"]],
        }

    def certificate(self, namespace: str, name: str) -> dict[str, Any]:
        """A TLS Secret `name` in `namespace` (both made unless there), as an operator would
        leave the web pages' certificate where lessonq runs."""
        if self.namespace(namespace) is None:
            self.core.create_namespace({"metadata": {"name": namespace}})
        try:
            return self.get("Secret", namespace, name)
        except ApiException as error:
            if error.status != 404:
                raise
        secret = {
            "metadata": {"name": name},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y2VydGlmaWNhdGU=", "tls.key": "a2V5"},
        }
        return self._dict(self.core.create_namespaced_secret(namespace, secret))
