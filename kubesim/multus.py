"""Multus as the kubelet's CNI: the networks annotation, NetworkAttachmentDefinitions and the
bridge plugin's checks, producing the network-status annotation or the sandbox error."""

from __future__ import annotations

import ipaddress
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
DEFAULT_INTERFACE = "eth0"
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

    def detail(self, pod: str) -> str:
        """Multus's error for the pod "namespace/name/uid" (its delegates could not be loaded)."""
        return f"Multus: [{pod}]: error loading k8s delegates k8s args: {self}"


class DelegateError(SandboxError):
    """A selected network whose definition cannot be turned into a delegate."""

    def detail(self, pod: str) -> str:
        return (
            super()
            .detail(pod)
            .replace(
                ": error loading k8s delegates k8s args: ",
                ": error loading k8s delegates k8s args: TryLoadPodDelegates: error in getting k8s "
                "network for pod: ",
            )
        )


@dataclass(frozen=True)
class MissingDefinition(DelegateError):
    namespace: str
    name: str

    def __str__(self) -> str:
        return (
            "GetNetworkDelegates: failed getting the delegate: getKubernetesDelegate: cannot "
            f"find a network-attachment-definition ({self.name}) in namespace ({self.namespace}): "
            f'{NAD_PLURAL}.{NAD_GROUP} "{self.name}" not found'
        )


class AddError(SandboxError):
    """A delegate's ADD failed (Multus's DelegateAdd or the plugin it runs)."""

    def __init__(self, network: str, message: str) -> None:
        super().__init__(message)
        self.network = network  # the name in the definition's CNI config

    def detail(self, pod: str) -> str:
        return f'[{pod}:{self.network}]: error adding container to network "{self.network}": {self}'


@dataclass(frozen=True)
class Selection:
    name: str
    namespace: str
    interface: str
    ips: tuple[str, ...] = ()
    mac: str = ""


@dataclass
class Delegate:
    """A selected network with its definition's CNI config, ready to ADD."""

    selection: Selection
    config: JSON

    @property
    def plugins(self) -> list[JSON]:
        plugins = self.config.get("plugins")
        if isinstance(plugins, list):
            return [p for p in plugins if isinstance(p, dict)]
        return [self.config]


@dataclass
class Attachment:
    selection: Selection
    bridges: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)

    @property
    def network(self) -> str:
        return f"{self.selection.namespace}/{self.selection.name}"


def _ip_problem(ip: str) -> str:
    """parsePodNetworkAnnotation's check of a requested IP ('' when it parses)."""
    try:
        if "/" in ip:
            ipaddress.ip_interface(ip)
        else:
            ipaddress.ip_address(ip)
    except ValueError:
        if "/" in ip:
            return f'failed to parse CIDR "{ip}": invalid CIDR address: {ip}'
        return f'failed to parse IP address "{ip}"'
    return ""


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
            if len(interface) > IFNAMSIZ or any(c.isspace() for c in interface):
                raise SandboxError(
                    "parsePodNetworkAnnotation: parsePodNetworkObjectName: Failed to parse "
                    "interface name: must be less than 15 chars and not contain '/' or spaces. "
                    f"interface name '{interface}'"
                )
            entries.append(
                {"name": name, "namespace": namespace or None, "interface": interface or None}
            )
    selections = []
    for index, entry in enumerate(entries, start=1):
        ips = tuple(str(ip) for ip in entry.get("ips") or ())
        problem = next((p for p in map(_ip_problem, ips) if p), "")
        if problem:
            raise SandboxError(problem)
        selections.append(
            Selection(
                name=entry["name"],
                namespace=entry.get("namespace") or pod_namespace,
                interface=entry.get("interface") or f"net{index}",
                ips=ips,
                mac=entry.get("mac") or "",
            )
        )
    return selections


def delegate_for(selection: Selection, definition: JSON) -> Delegate:
    """Load a definition's CNI config as Multus does (getKubernetesDelegate)."""
    raw = (definition.get("spec") or {}).get("config", "")
    where = f"{selection.namespace}/{selection.name}"
    try:
        config = json.loads(raw) if raw else None
    except ValueError as exc:
        raise DelegateError(
            f"GetNetworkDelegates: cannot parse config of {where}: invalid character: {exc}"
        ) from exc
    if not isinstance(config, dict):
        raise DelegateError(
            f"GetNetworkDelegates: error in getting the CNI config of {where}: config is empty"
        )
    if not config.get("cniVersion"):
        raise DelegateError(f"error parsing configuration of {where}: missing 'cniVersion'")
    delegate = Delegate(selection, config)
    if not all(plugin.get("type") for plugin in delegate.plugins):
        raise DelegateError(f"error parsing configuration of {where}: missing 'type'")
    return delegate


def _cidr_hosts(addresses: list[str], what: str) -> list[str]:
    """The static IPAM plugin's addresses (CIDR notation required), without their prefix."""
    for address in addresses:
        try:
            ipaddress.ip_interface(address)
        except ValueError:
            address = ""
        if "/" not in address:
            raise ValueError(what.format(address))
    return [address.split("/")[0] for address in addresses]


def _object(config: JSON, key: str) -> JSON:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _plugin_add(plugin: JSON, selection: Selection, attachment: Attachment) -> None:
    """One plugin's ADD: the bridge plugin's bridge, the IPAM plugin's addresses."""
    if plugin.get("type") == "bridge":
        bridge = str(plugin.get("bridge") or DEFAULT_BRIDGE)
        if len(bridge) > IFNAMSIZ:
            raise ValueError(
                f'failed to create bridge "{bridge}": could not add "{bridge}": numerical result '
                "out of range"
            )
        attachment.bridges.append(bridge)
    # libcni hands a plugin only the runtime arguments its capabilities ask for
    capabilities = _object(plugin, "capabilities")
    requested = list(selection.ips) if capabilities.get("ips") is True else []
    ipam = _object(plugin, "ipam")
    if ipam.get("type") == "static" and requested:
        attachment.ips += _cidr_hosts(
            requested, "an entry in the 'ips' field is NOT in CIDR notation, got: '{}'"
        )
    elif ipam.get("type") == "static":
        addresses = [str(a.get("address", "")) for a in ipam.get("addresses") or []]
        attachment.ips += _cidr_hosts(
            addresses, "the 'address' field is expected to be in CIDR notation, got: '{}'"
        )
    elif ipam.get("type"):
        attachment.ips += [ip.split("/")[0] for ip in requested]


def delegate_add(delegate: Delegate, taken: set[str]) -> Attachment:
    """Multus's DelegateAdd: the interface name must be free in the pod, then each plugin runs."""
    selection, config = delegate.selection, delegate.config
    network = str(config.get("name", ""))
    interface = selection.interface
    problem = ""
    if len(interface) > IFNAMSIZ:
        problem = "numerical result out of range"  # the kernel's ERANGE for the netlink lookup
    elif interface in taken:
        problem = f"validateIfName: interface name {interface} already exists"
    if problem:
        raise AddError(
            network,
            f'DelegateAdd: cannot set "{config.get("type", "")}" interface name to '
            f'"{interface}": {problem}',
        )
    taken.add(interface)
    attachment = Attachment(selection)
    for plugin in delegate.plugins:
        try:
            _plugin_add(plugin, selection, attachment)
        except ValueError as exc:
            if "plugins" not in config:  # libcni's AddNetwork passes a lone plugin's error on
                raise AddError(network, str(exc)) from exc
            described = f'type="{plugin.get("type")}" name="{network}"'
            raise AddError(network, f"plugin {described} failed (add): {exc}") from exc
    return attachment


def attach(
    annotation: str, pod_namespace: str, lookup: Callable[[str, str], JSON | None]
) -> list[Attachment]:
    """Load every selected network, then ADD each after the default network's eth0."""
    delegates = []
    for selection in parse_networks(annotation, pod_namespace):
        definition = lookup(selection.namespace, selection.name)
        if definition is None:
            raise MissingDefinition(selection.namespace, selection.name)
        delegates.append(delegate_for(selection, definition))
    taken = {DEFAULT_INTERFACE}
    return [delegate_add(delegate, taken) for delegate in delegates]


def network_status(pod_ip: str, mac: Callable[[], str], attachments: list[Attachment]) -> str:
    entries: list[JSON] = [
        {
            "name": DEFAULT_NETWORK,
            "interface": DEFAULT_INTERFACE,
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
