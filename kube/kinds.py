"""The kinds of object lessonq creates, reads, lists, watches or deletes, and where they live.

One table instead of a method per kind: every call builds its path from the kind's entry, so a
new kind (a ConfigMap, a Job) is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str  # "" for the core API
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def everywhere(self) -> str:
        """The path of the objects of this kind in every namespace (a list or watch)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{root}/{self.plural}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection's path, or the object's with `name`."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} objects live in a namespace: name one")
            root += f"/namespaces/{quote(namespace, safe='')}"
        path = f"{root}/{self.plural}"
        return f"{path}/{quote(name, safe='')}" if name is not None else path


NAMESPACE = Kind("Namespace", "", "v1", "namespaces", namespaced=False)
POD = Kind("Pod", "", "v1", "pods")
SERVICE = Kind("Service", "", "v1", "services")
CONFIG_MAP = Kind("ConfigMap", "", "v1", "configmaps")
SECRET = Kind("Secret", "", "v1", "secrets")
JOB = Kind("Job", "batch", "v1", "jobs")
# Only read (what happened to a failed lesson's pods), never created.
EVENT = Kind("Event", "", "v1", "events")
# Only read (what they allocate, when a lesson's pods find no room).
NODE = Kind("Node", "", "v1", "nodes", namespaced=False)
NETWORK_POLICY = Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies")
INGRESS = Kind("Ingress", "networking.k8s.io", "v1", "ingresses")
# Multus's custom resource.
NETWORK_ATTACHMENT_DEFINITION = Kind(
    "NetworkAttachmentDefinition", "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
)

KINDS = {
    kind.kind: kind
    for kind in (
        NAMESPACE,
        POD,
        SERVICE,
        CONFIG_MAP,
        SECRET,
        JOB,
        NETWORK_POLICY,
        INGRESS,
        NETWORK_ATTACHMENT_DEFINITION,
    )
}


def kind_of(manifest: dict[str, object]) -> Kind:
    """The table's entry for a manifest; ValueError for a kind lessonq does not handle."""
    kind = KINDS.get(str(manifest.get("kind")))
    if kind is None or manifest.get("apiVersion") != kind.api_version:
        raise ValueError(
            f"lessonq does not handle {manifest.get('apiVersion')} {manifest.get('kind')} objects"
        )
    return kind
