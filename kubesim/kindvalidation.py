"""What the apiserver checks in Services, NetworkPolicies, Ingresses, Jobs, Events and
RuntimeClasses beyond the schema (pkg/apis/*/validation), as field causes; the pod spec's rules
are in podvalidation."""

from __future__ import annotations

import ipaddress
from typing import Any

from kubesim import validation as v
from kubesim.errors import Cause
from kubesim.podvalidation import (
    MAX_PORT,
    NONNEGATIVE_MSG,
    PORT_RANGE_MSG,
    indexed_objects,
    is_port_name,
    label_selector,
    protocol,
)
from kubesim.selectors import from_label_selector_object, labels_match

JSON = dict[str, Any]
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
POLICY_TYPES = ("Ingress", "Egress")
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_BAD_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F")
_BAD_PATH_ENDS = ("/..", "/.")


def _port_number_or_name(value: Any, path: str) -> list[Cause]:
    """ValidatePortNumOrName: an IntOrString port."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [v.invalid(path, value, PORT_RANGE_MSG)] if not 0 < value <= MAX_PORT else []
    if isinstance(value, str):
        return v.invalid_each(path, value, is_port_name(value))
    return []


# Services


def service_ports(spec: JSON) -> list[Cause]:
    """validateServicePort for each port, then ports repeated (port and protocol)."""
    ports = list(indexed_objects(spec.get("ports")))
    causes: list[Cause] = []
    names: set[str] = set()
    for index, port in ports:
        where = f"spec.ports[{index}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(v.required(f"{where}.name"))
        elif isinstance(name, str) and name:
            causes += v.dns1123_label(f"{where}.name", name)
            if name in names:
                causes.append(v.duplicate(f"{where}.name", name))
            names.add(name)
        number = port.get("port")
        if isinstance(number, int) and not 0 < number <= MAX_PORT:
            causes.append(v.invalid(f"{where}.port", number, PORT_RANGE_MSG))
        causes += protocol(port.get("protocol"), f"{where}.protocol")
        causes += _port_number_or_name(port.get("targetPort"), f"{where}.targetPort")
    seen: set[tuple[Any, Any]] = set()
    for index, port in ports:
        key = (port.get("port"), port.get("protocol"))
        if key in seen:
            causes.append(v.duplicate(f"spec.ports[{index}]", {"port": key[0], "protocol": key[1]}))
        seen.add(key)
    return causes


def service_type(spec: JSON) -> list[Cause]:
    kind = spec.get("type")
    if isinstance(kind, str) and kind not in SERVICE_TYPES:
        return [v.not_supported("spec.type", kind, SERVICE_TYPES)]
    return []


# NetworkPolicies


def _cidr(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(value), strict=False) if "/" in str(value) else None
    except ValueError:
        return None


def _ip_block(block: JSON, path: str) -> list[Cause]:
    cidr = block.get("cidr")
    if not cidr:
        return [v.required(f"{path}.cidr")]
    network = _cidr(cidr)
    if network is None:
        return [v.invalid(f"{path}.cidr", cidr, "not a valid CIDR")]
    causes: list[Cause] = []
    for index, excepted in enumerate(block.get("except") or []):
        inner = _cidr(excepted)
        if inner is None:
            return [*causes, v.invalid(f"{path}.except[{index}]", excepted, "not a valid CIDR")]
        if inner.network_address not in network:
            why = "must be a strict subset of `cidr`"
            causes.append(v.invalid(f"{path}.except[{index}]", str(inner.network_address), why))
    return causes


def _peer(peer: JSON, path: str) -> list[Cause]:
    causes: list[Cause] = []
    kinds = [key for key in ("podSelector", "namespaceSelector", "ipBlock") if key in peer]
    for key in kinds:
        if key == "ipBlock":
            causes += _ip_block(peer[key] or {}, f"{path}.ipBlock")
        else:
            causes += label_selector(peer[key], f"{path}.{key}")
    if not kinds:
        causes.append(v.required(path, "must specify a peer"))
    elif len(kinds) > 1 and "ipBlock" in kinds:
        causes.append(v.forbidden(path, "may not specify both ipBlock and another peer"))
    return causes


def _policy_port(port: JSON, path: str) -> list[Cause]:
    causes = protocol(port.get("protocol"), f"{path}.protocol")
    number = port.get("port")
    if number is not None:
        causes += _port_number_or_name(number, f"{path}.port")
    end = port.get("endPort")
    if isinstance(end, int) and isinstance(number, int) and end < number:
        causes.append(v.invalid(f"{path}.endPort", end, "must be greater than or equal to `port`"))
    return causes


def network_policy(obj: JSON) -> list[Cause]:
    """ValidateNetworkPolicySpec."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    causes = label_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for index, rule in indexed_objects(spec.get(direction)):
            where = f"spec.{direction}[{index}]"
            for pindex, port in indexed_objects(rule.get("ports")):
                causes += _policy_port(port, f"{where}.ports[{pindex}]")
            for pindex, peer in indexed_objects(rule.get(peers)):
                causes += _peer(peer, f"{where}.{peers}[{pindex}]")
    types = spec.get("policyTypes") or []
    if len(types) > len(POLICY_TYPES):
        return [
            *causes,
            v.invalid("spec.policyTypes", types, "may not specify more than two policyTypes"),
        ]
    for index, kind in enumerate(types):
        if kind not in POLICY_TYPES:
            causes.append(v.not_supported(f"spec.policyTypes[{index}]", kind, POLICY_TYPES))
    return causes


# Ingresses


def _backend(backend: JSON, path: str) -> list[Cause]:
    """validateIngressBackend."""
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [v.invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        return []
    if not isinstance(service, dict):
        return [v.invalid(path, "", "resource or service backend is required")]
    causes = []
    name = service.get("name")
    if not name:
        causes.append(v.required(f"{path}.service.name"))
    elif isinstance(name, str):
        causes += v.invalid_each(f"{path}.service.name", name, v.is_dns1035_label(name))
    port = v.mapping(service, "port")
    port_name, number = port.get("name"), port.get("number")
    if port_name and number:
        causes.append(v.invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        causes += v.invalid_each(f"{path}.service.port.name", port_name, is_port_name(port_name))
    elif number:
        if isinstance(number, int) and not 0 < number <= MAX_PORT:
            causes.append(v.invalid(f"{path}.service.port.number", number, PORT_RANGE_MSG))
    else:
        causes.append(v.required(path, "port name or number is required"))
    return causes


def _http_path(entry: JSON, path: str) -> list[Cause]:
    """validateHTTPIngressPath."""
    kind, value = entry.get("pathType"), entry.get("path") or ""
    if kind is None:
        return [v.required(f"{path}.pathType", "pathType must be specified")]
    causes = []
    if kind in ("Exact", "Prefix"):
        if not value.startswith("/"):
            causes.append(v.invalid(f"{path}.path", value, "must be an absolute path"))
        causes += [
            v.invalid(f"{path}.path", value, f"must not contain '{part}'")
            for part in _BAD_PATH_PARTS
            if part in value
        ]
        causes += [
            v.invalid(f"{path}.path", value, f"cannot end with '{end}'")
            for end in _BAD_PATH_ENDS
            if value.endswith(end)
        ]
    elif kind == "ImplementationSpecific":
        if value and not value.startswith("/"):
            causes.append(v.invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        causes.append(v.not_supported(f"{path}.pathType", kind, PATH_TYPES))
    return causes + _backend(v.mapping(entry, "backend"), f"{path}.backend")


def _host(host: str, path: str) -> list[Cause]:
    causes = []
    try:
        ipaddress.ip_address(host)
        causes.append(v.invalid(path, host, "must be a DNS name, not an IP address"))
    except ValueError:
        pass
    if host.startswith("*."):
        return causes + v.dns1123_subdomain(path, host[2:])
    return causes + v.dns1123_subdomain(path, host)


def ingress(obj: JSON) -> list[Cause]:
    """ValidateIngressSpec (networking.k8s.io/v1)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    rules, default = spec.get("rules") or [], spec.get("defaultBackend")
    causes = []
    if not rules and default is None:
        causes.append(
            v.invalid("spec", rules, "either `defaultBackend` or `rules` must be specified")
        )
    if isinstance(default, dict):
        causes += _backend(default, "spec.defaultBackend")
    for index, rule in indexed_objects(rules):
        where = f"spec.rules[{index}]"
        if isinstance(rule.get("host"), str) and rule["host"]:
            causes += _host(rule["host"], f"{where}.host")
        http = rule.get("http")
        if isinstance(http, dict):
            entries = list(indexed_objects(http.get("paths")))
            if not entries:
                causes.append(v.required(f"{where}.http.paths"))
            for pindex, entry in entries:
                causes += _http_path(entry, f"{where}.http.paths[{pindex}]")
    for index, tls in indexed_objects(spec.get("tls")):
        for hindex, host in enumerate(tls.get("hosts") or []):
            if isinstance(host, str):
                name = host[2:] if host.startswith("*.") else host
                path = f"spec.tls[{index}].hosts[{hindex}]"
                causes += v.invalid_each(path, host, v.is_dns1123_subdomain(name))
    class_name = spec.get("ingressClassName")
    if isinstance(class_name, str):
        causes += v.dns1123_subdomain("spec.ingressClassName", class_name)
    return causes


# Jobs

# the labels the apiserver puts on a Job's template and selector (generateSelector)
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
_PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"


def job_counts(spec: JSON) -> list[Cause]:
    """The counts and durations that may not be negative."""
    causes = []
    for key in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ):
        value = spec.get(key)
        if isinstance(value, int) and value < 0:
            causes.append(v.invalid(f"spec.{key}", value, NONNEGATIVE_MSG))
    return causes


def job_selector(spec: JSON, uid: str) -> list[Cause]:
    """ValidateGeneratedSelector and the selector's match of the template: a selector the
    client gives without `manualSelector` is refused, for it will not be the generated one
    (`uid`: the Job's, or "" before it has one)."""
    labels = v.mapping(v.mapping(v.mapping(spec, "template"), "metadata"), "labels")
    selector = spec.get("selector")
    if spec.get("manualSelector") is True:
        if not isinstance(selector, dict):
            return [v.required("spec.selector")]
        causes = label_selector(selector, "spec.selector")
        chosen = from_label_selector_object(selector)
        if not causes and chosen is not None and not labels_match(chosen, labels):
            why = "`selector` does not match template `labels`"
            causes.append(v.invalid("spec.template.metadata.labels", labels, why))
        return causes
    if not isinstance(selector, dict):
        return []  # generated at creation
    generated = {label: uid or _PLACEHOLDER_UID for label in CONTROLLER_UID_LABELS}
    merged = {**selector, "matchLabels": {**generated, **v.mapping(selector, "matchLabels")}}
    chosen = from_label_selector_object(merged)
    causes = label_selector(selector, "spec.selector")
    if chosen is None or causes:
        return causes
    if not labels_match(chosen, generated):
        causes.append(v.invalid("spec.selector", selector, "`selector` not auto-generated"))
    if not labels_match(chosen, {**labels, **generated}):
        why = "`selector` does not match template `labels`"
        causes.append(v.invalid("spec.template.metadata.labels", labels, why))
    return causes


# Events (core/v1)


def event(obj: JSON) -> list[Cause]:
    """ValidateEvent of an event without eventTime: its namespace and its object's agree."""
    involved = v.mapping(obj, "involvedObject")
    namespace = obj["metadata"].get("namespace") or ""
    theirs = involved.get("namespace") or ""
    if obj.get("eventTime"):
        return []
    if (not theirs and namespace not in ("", "default")) or (theirs and theirs != namespace):
        return [v.invalid("involvedObject.namespace", theirs, "does not match event.namespace")]
    return []


# RuntimeClasses


def runtime_class(obj: JSON) -> list[Cause]:
    handler = obj.get("handler")
    if isinstance(handler, str):
        return v.dns1123_label("handler", handler)
    return []


def immutable(new: Any, old: Any, path: str) -> list[Cause]:
    """ValidateImmutableField."""
    return [] if new == old else [v.invalid(path, new, "field is immutable")]
