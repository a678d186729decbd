"""Multus as the kubelet's CNI: the networks annotation, NetworkAttachmentDefinitions and the
bridge plugin's checks, producing the network-status annotation or the sandbox error."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
NAD_GROUP = "k8s.cni.cncf.io"
NAD_PLURAL = "network-attachment-definitions"
DEFAULT_NETWORK = "cbr0"
IFNAMSIZ = 15  # a Linux interface name holds 15 characters plus the NUL
DEFAULT_BRIDGE = "cni0"

_NAD_DESCRIPTION = (
    "NetworkAttachmentDefinition is a CRD schema specified by the Network Plumbing Working Group "
    "to express the intent for attaching pods to one or more logical or physical networks. More "
    "information available at: https://github.com/k8snetworkplumbingwg/multi-net-spec"
)
_NAD_SCHEMA: JSON = {
    "description": _NAD_DESCRIPTION,
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "description": "NetworkAttachmentDefinition spec defines the desired state of a "
            "network attachment",
            "type": "object",
            "properties": {
                "config": {
                    "description": "NetworkAttachmentDefinition config is a JSON-formatted CNI "
                    "configuration",
                    "type": "string",
                }
            },
        },
    },
}
# the CRD as Multus's deployment manifest installs it
MULTUS_CRD: JSON = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{NAD_PLURAL}.{NAD_GROUP}"},
    "spec": {
        "group": NAD_GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": NAD_PLURAL,
            "singular": "network-attachment-definition",
            "kind": "NetworkAttachmentDefinition",
            "shortNames": ["net-attach-def"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": _NAD_SCHEMA},
            }
        ],
    },
}


class SandboxError(Exception):
    """The CNI ADD failed: the kubelet reports FailedCreatePodSandBox and retries."""


@dataclass(frozen=True)
class MissingDefinition(SandboxError):
    namespace: str
    name: str

    def __str__(self) -> str:
        return (
            "GetNetworkDelegates: failed getting the delegate: getKubernetesDelegate: cannot "
            f"find a network-attachment-definition ({self.name}) in namespace ({self.namespace}): "
            f'{NAD_PLURAL}.{NAD_GROUP} "{self.name}" not found'
        )


@dataclass(frozen=True)
class Selection:
    name: str
    namespace: str
    interface: str
    ips: tuple[str, ...] = ()
    mac: str = ""


@dataclass
class Attachment:
    selection: Selection
    bridges: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)

    @property
    def network(self) -> str:
        return f"{self.selection.namespace}/{self.selection.name}"


def parse_networks(annotation: str, pod_namespace: str) -> list[Selection]:
    """The networks annotation in its text form (`a@if, ns/b`) or its JSON list form."""
    text = annotation.strip()
    if not text:
        return []
    entries: list[JSON] = []
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise SandboxError(
                "parsePodNetworkAnnotation: failed to parse pod Network Attachment Selection "
                f"Annotation JSON format: {exc}"
            ) from exc
        if not isinstance(loaded, list) or not all(
            isinstance(e, dict) and e.get("name") for e in loaded
        ):
            raise SandboxError("parsePodNetworkAnnotation: each network selection needs a name")
        entries = loaded
    else:
        for item in text.split(","):
            item = item.strip()
            namespace, _, rest = item.rpartition("/")
            name, _, interface = rest.partition("@")
            if not name or "/" in namespace:
                raise SandboxError(
                    f"parsePodNetworkObjectName: Invalid network object (failed at '{item}')"
                )
            entries.append(
                {"name": name, "namespace": namespace or None, "interface": interface or None}
            )
    selections = []
    for index, entry in enumerate(entries, start=1):
        selections.append(
            Selection(
                name=entry["name"],
                namespace=entry.get("namespace") or pod_namespace,
                interface=entry.get("interface") or f"net{index}",
                ips=tuple(entry.get("ips") or ()),
                mac=entry.get("mac") or "",
            )
        )
    return selections


def _plugins(config: JSON) -> list[JSON]:
    plugins = config.get("plugins")
    return [p for p in plugins if isinstance(p, dict)] if isinstance(plugins, list) else [config]


def attachment_for(selection: Selection, definition: JSON) -> Attachment:
    """Check a definition's CNI config as Multus and the bridge plugin would."""
    raw = (definition.get("spec") or {}).get("config", "")
    where = f"{selection.namespace}/{selection.name}"
    try:
        config = json.loads(raw) if raw else None
    except ValueError as exc:
        raise SandboxError(
            f"GetNetworkDelegates: cannot parse config of {where}: invalid character: {exc}"
        ) from exc
    if not isinstance(config, dict):
        raise SandboxError(
            f"GetNetworkDelegates: error in getting the CNI config of {where}: config is empty"
        )
    if not config.get("cniVersion"):
        raise SandboxError(f"error parsing configuration of {where}: missing 'cniVersion'")
    attachment = Attachment(selection, ips=[ip.split("/")[0] for ip in selection.ips])
    for plugin in _plugins(config):
        plugin_type = plugin.get("type")
        if not plugin_type:
            raise SandboxError(f"error parsing configuration of {where}: missing 'type'")
        if plugin_type == "bridge":
            bridge = str(plugin.get("bridge") or DEFAULT_BRIDGE)
            if len(bridge) > IFNAMSIZ:
                raise SandboxError(
                    f'plugin type="bridge" name="{config.get("name", "")}" failed (add): '
                    "failed to create "
                    f'bridge "{bridge}": could not add "{bridge}": numerical result out of range'
                )
            attachment.bridges.append(bridge)
        ipam = plugin.get("ipam") or {}
        if not attachment.ips and ipam.get("type") == "static":
            attachment.ips = [
                str(a.get("address", "")).split("/")[0] for a in ipam.get("addresses") or []
            ]
    return attachment


def attach(
    annotation: str, pod_namespace: str, lookup: Callable[[str, str], JSON | None]
) -> list[Attachment]:
    """Resolve every selected network; raises SandboxError (or MissingDefinition) on failure."""
    attachments = []
    for selection in parse_networks(annotation, pod_namespace):
        definition = lookup(selection.namespace, selection.name)
        if definition is None:
            raise MissingDefinition(selection.namespace, selection.name)
        attachments.append(attachment_for(selection, definition))
    return attachments


def network_status(pod_ip: str, mac: Callable[[], str], attachments: list[Attachment]) -> str:
    entries: list[JSON] = [
        {
            "name": DEFAULT_NETWORK,
            "interface": "eth0",
            "ips": [pod_ip],
            "mac": mac(),
            "default": True,
            "dns": {},
        }
    ]
    for attachment in attachments:
        entry: JSON = {"name": attachment.network, "interface": attachment.selection.interface}
        if attachment.ips:
            entry["ips"] = attachment.ips
        entry["mac"] = attachment.selection.mac or mac()
        entry["dns"] = {}
        entries.append(entry)
    return json.dumps(entries, indent=4)
