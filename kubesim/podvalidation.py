"""What the apiserver checks in a PodSpec (pkg/apis/core/validation ValidatePodSpec), and the
warnings it sends with a pod (pkg/api/pod GetWarningsForPod); only the rules a client can trip
over are modelled."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from typing import Any

from kubesim import validation as v
from kubesim.decoding import quantity_value
from kubesim.errors import Cause

JSON = dict[str, Any]
TermCheck = Callable[[JSON, str], list[Cause]]
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
MAX_PORT = 65535
MAX_INT32 = 2**31 - 1
PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"
# the supported values as the apiserver lists them (sets.String.List(): sorted)
PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")

_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_SYSCTL_NAME = re.compile(r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$")
SYSCTL_NAME_MSG = f"must have at most 253 characters and match regex {_SYSCTL_NAME.pattern}"
# utilsysctl.GetNamespace: the sysctls a pod sharing the host's namespace may not set
_IPC_SYSCTLS = ("kernel.shm", "kernel.msg", "fs.mqueue.")
LABEL_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
NODE_SELECTOR_OPERATORS = (*LABEL_SELECTOR_OPERATORS, "Gt", "Lt")


def is_port_name(name: str) -> list[str]:
    """IANA_SVC_NAME (validation.IsValidPortName)."""
    messages = []
    if len(name) > 15:
        messages.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.match(name):
        messages.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        messages.append("must contain at least one letter (a-z)")
    if "--" in name:
        messages.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        messages.append("must not begin or end with a hyphen")
    return messages


def indexed_objects(value: Any) -> Iterator[tuple[int, JSON]]:
    """The objects of a list field, with their index; anything else the schema reports."""
    for index, item in enumerate(value if isinstance(value, list) else []):
        if isinstance(item, dict):
            yield index, item


def _ports(ports: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for index, port in indexed_objects(ports):
        where = f"{path}[{index}]"
        name = port.get("name")
        if isinstance(name, str) and name:
            problems = is_port_name(name)
            if problems:
                causes += v.invalid_each(f"{where}.name", name, problems)
            elif name in names:
                causes.append(v.duplicate(f"{where}.name", name))
            names.add(name)
        number = port.get("containerPort")
        if number == 0:
            causes.append(v.required(f"{where}.containerPort"))
        elif isinstance(number, int) and not 0 < number <= MAX_PORT:
            causes.append(v.invalid(f"{where}.containerPort", number, PORT_RANGE_MSG))
        host = port.get("hostPort")
        if isinstance(host, int) and host and not 0 < host <= MAX_PORT:
            causes.append(v.invalid(f"{where}.hostPort", host, PORT_RANGE_MSG))
        causes += protocol(port.get("protocol"), f"{where}.protocol")
    return causes


def protocol(value: Any, path: str) -> list[Cause]:
    """A port's protocol (defaulted to TCP before validation, so rarely missing)."""
    if value == "":
        return [v.required(path)]
    if isinstance(value, str) and value not in PROTOCOLS:
        return [v.not_supported(path, value, PROTOCOLS)]
    return []


# resource requirements (ValidateResourceRequirements)

_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
# helper.IsStandardResourceName: the compute resources, quota's object counts and prefixed forms
_STANDARD_RESOURCES = frozenset(
    (
        *_STANDARD_CONTAINER_RESOURCES,
        *(f"{kind}.{name}" for kind in ("requests", "limits") for name in ("cpu", "memory")),
        "requests.ephemeral-storage",
        "limits.ephemeral-storage",
        "requests.storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    )
)
NONNEGATIVE_MSG = "must be greater than or equal to 0"
INTEGER_MSG = "must be an integer"


def _native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _resource_name(name: str, path: str) -> list[Cause]:
    """validateContainerResourceName: a qualified name, standard (for containers) unless it is
    an extended resource (a domain-prefixed name)."""
    causes = v.qualified_name(path, name)
    plain = "/" not in name
    if (
        not causes
        and plain
        and name not in _STANDARD_RESOURCES
        and not name.startswith(("hugepages-", "requests.hugepages-"))
    ):
        causes.append(v.invalid(path, name, "must be a standard resource type or fully qualified"))
    if plain and name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
        causes.append(v.invalid(path, name, "must be a standard resource for containers"))
    elif (
        not plain
        and not _native(name)
        and (name.startswith("requests.") or v.is_label_key(f"requests.{name}"))
    ):
        causes.append(v.invalid(path, name, "doesn't follow extended resource name standard"))
    return causes


def _overcommit(name: str) -> bool:
    return _native(name) and not name.startswith("hugepages-")


def _quantity(name: str, value: Any, path: str) -> list[Cause]:
    amount = quantity_value(value)
    if amount is None:
        return []  # the decoder refused it
    causes = []
    if amount < 0:
        causes.append(v.invalid(path, value, NONNEGATIVE_MSG))
    if not _native(name) and amount % 1:
        causes.append(v.invalid(path, value, INTEGER_MSG))
    return causes


def _resources(resources: Any, path: str) -> list[Cause]:
    limits, requests = v.mapping(resources, "limits"), v.mapping(resources, "requests")
    causes: list[Cause] = []
    for name, value in limits.items():
        causes += _resource_name(name, f"{path}.limits[{name}]")
        causes += _quantity(name, value, f"{path}.limits[{name}]")
    for name, value in requests.items():
        causes += _resource_name(name, f"{path}.requests[{name}]")
        causes += _quantity(name, value, f"{path}.requests[{name}]")
        amount = quantity_value(value)
        if name not in limits:
            if not _overcommit(name):
                detail = "Limit must be set for non overcommitable resources"
                causes.append(v.required(f"{path}.limits", detail))
            continue
        limit = quantity_value(limits[name])
        if amount is None or limit is None:
            continue
        if amount != limit and not _overcommit(name):
            causes.append(v.invalid(f"{path}.requests", value, f"must be equal to {name} limit"))
        elif amount > limit:
            causes.append(
                v.invalid(f"{path}.requests", value, f"must be less than or equal to {name} limit")
            )
    return causes


# volumes (ValidateVolumes, validateVolumeSource, ValidateVolumeMounts)

FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
# the volume sources in the order validateVolumeSource looks at them: (JSON field, the field it
# names when a second source is refused, in its own spelling, typos included)
VOLUME_SOURCES = (
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
)


def _file_mode(mode: Any, path: str) -> list[Cause]:
    if isinstance(mode, int) and not 0 <= mode <= 0o777:
        return [v.invalid(path, mode, FILE_MODE_MSG)]
    return []


def _descending_path(target: str, path: str) -> list[Cause]:
    """validateLocalDescendingPath: relative, and no '..' element."""
    causes = []
    if target.startswith("/"):
        causes.append(v.invalid(path, target, "must be a relative path"))
    if ".." in target.split("/"):
        causes.append(v.invalid(path, target, "must not contain '..'"))  # one is enough
    return causes


def local_non_reserved_path(target: str, path: str) -> list[Cause]:
    """ValidateLocalNonReservedPath: a file placed in a volume (configMap and secret items)."""
    causes = _descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):  # '../' was refused above
        causes.append(v.invalid(path, target, "must not start with '..'"))
    return causes


def _key_to_path(item: JSON, path: str) -> list[Cause]:
    """validateKeyToPath. An absent key or path is the schema's to report; an empty one ours."""
    causes = []
    for field in ("key", "path"):
        if item.get(field) == "":
            causes.append(v.required(f"{path}.{field}"))
    if isinstance(item.get("path"), str):
        causes += local_non_reserved_path(item["path"], f"{path}.path")
    return causes + _file_mode(item.get("mode"), f"{path}.mode")


def _projection(source: JSON, name_field: str, path: str) -> list[Cause]:
    """validateConfigMapVolumeSource and validateSecretVolumeSource."""
    causes = []
    if not source.get(name_field):
        causes.append(v.required(f"{path}.{name_field}"))
    causes += _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    for index, item in indexed_objects(source.get("items")):
        causes += _key_to_path(item, f"{path}.items[{index}]")
    return causes


def _volume_source(volume: JSON, path: str) -> list[Cause]:
    causes: list[Cause] = []
    count = 0
    for field, named in VOLUME_SOURCES:
        source = volume.get(field)
        if not isinstance(source, dict):
            continue
        if count:
            causes.append(v.forbidden(f"{path}.{named}", "may not specify more than 1 volume type"))
            continue
        count += 1
        if field == "configMap":
            causes += _projection(source, "name", f"{path}.configMap")
        elif field == "secret":
            causes += _projection(source, "secretName", f"{path}.secret")
    # none at all cannot reach validation: the v1 defaults make such a volume an emptyDir
    return causes


def _volumes(spec: JSON, path: str) -> tuple[set[str], list[Cause]]:
    """ValidateVolumes: the names of the volumes that passed (mounts may refer only to those)."""
    causes: list[Cause] = []
    names: set[str] = set()
    for index, volume in indexed_objects(spec.get("volumes")):
        where = f"{path}.volumes[{index}]"
        found = _volume_source(volume, where)
        name = volume.get("name")
        if name == "":
            found.append(v.required(f"{where}.name"))
        elif isinstance(name, str):
            found += v.dns1123_label(f"{where}.name", name)
        if name in names:
            found.append(v.duplicate(f"{where}.name", name))
        if found:
            causes += found
        elif isinstance(name, str):
            names.add(name)
    return names, causes


def _volume_mounts(mounts: Any, volumes: set[str], path: str) -> list[Cause]:
    """ValidateVolumeMounts (subPath problems are reported on the list, as upstream does)."""
    causes: list[Cause] = []
    points: set[str] = set()
    for index, mount in indexed_objects(mounts):
        where = f"{path}[{index}]"
        name = mount.get("name")
        if name == "":
            causes.append(v.required(f"{where}.name"))
        if name not in volumes:
            causes.append(v.not_found(f"{where}.name", name if isinstance(name, str) else ""))
        point = mount.get("mountPath")
        if point == "":
            causes.append(v.required(f"{where}.mountPath"))
        point = point if isinstance(point, str) else ""
        if point in points:
            causes.append(v.invalid(f"{where}.mountPath", point, "must be unique"))
        points.add(point)
        sub, expression = mount.get("subPath"), mount.get("subPathExpr")
        if isinstance(sub, str) and sub:
            causes += _descending_path(sub, f"{path}.subPath")
        if isinstance(expression, str) and expression:
            if isinstance(sub, str) and sub:
                causes.append(
                    v.invalid(
                        f"{where}.subPathExpr",
                        expression,
                        "subPathExpr and subPath are mutually exclusive",
                    )
                )
            causes += _descending_path(expression, f"{path}.subPathExpr")
    return causes


# environment variables (ValidateEnv)

ENV_NAME_MSG = (
    "a valid environment variable name must consist only of printable ASCII characters other "
    "than '='"
)
ENV_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")


def _key_selector(selector: JSON, path: str) -> list[Cause]:
    """validateConfigMapKeySelector and validateSecretKeySelector."""
    name = selector.get("name")
    name = name if isinstance(name, str) else ""
    causes = v.invalid_each(f"{path}.name", name, v.is_dns1123_subdomain(name))
    key = selector.get("key")
    if key == "":
        causes.append(v.required(f"{path}.key"))
    elif isinstance(key, str):
        causes += v.invalid_each(f"{path}.key", key, v.is_config_map_key(key))
    return causes


def _env(env: Any, path: str) -> list[Cause]:
    """Names as RelaxedEnvironmentVariableValidation (GA) has them, and one valueFrom source; of
    the sources, the configMap and secret key references are checked."""
    causes: list[Cause] = []
    for index, var in indexed_objects(env):
        where = f"{path}[{index}]"
        name = var.get("name")
        if name == "":
            causes.append(v.required(f"{where}.name"))
        elif isinstance(name, str) and any(not " " <= c <= "~" or c == "=" for c in name):
            causes.append(v.invalid(f"{where}.name", name, ENV_NAME_MSG))
        source = var.get("valueFrom")
        if not isinstance(source, dict):
            continue
        sources = [key for key in ENV_SOURCES if isinstance(source.get(key), dict)]
        for key in sources:
            if key in ("configMapKeyRef", "secretKeyRef"):
                causes += _key_selector(source[key], f"{where}.valueFrom.{key}")
        problem = ""
        if not sources:
            problem = "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
            problem += "`secretKeyRef`"
        elif var.get("value"):
            problem = "may not be specified when `value` is not empty"
        elif len(sources) > 1:
            problem = "may not have more than one field specified at a time"
        if problem:
            causes.append(v.invalid(f"{where}.valueFrom", "", problem))
    return causes


def _containers(spec: JSON, path: str, volumes: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    if not spec.get("containers"):
        causes.append(v.required(f"{path}.containers"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in indexed_objects(spec.get(group)):
            where = f"{path}.{group}[{index}]"
            name = container.get("name")
            if isinstance(name, str):
                causes += v.dns1123_label(f"{where}.name", name)
                if name in seen:
                    causes.append(v.duplicate(f"{where}.name", name))
                seen.add(name)
            if not container.get("image"):
                causes.append(v.required(f"{where}.image"))
            pull = container.get("imagePullPolicy")
            if isinstance(pull, str) and pull not in PULL_POLICIES:
                causes.append(v.not_supported(f"{where}.imagePullPolicy", pull, PULL_POLICIES))
            causes += _ports(container.get("ports"), f"{where}.ports")
            causes += _resources(container.get("resources"), f"{where}.resources")
            causes += _env(container.get("env"), f"{where}.env")
            mounts = container.get("volumeMounts")
            causes += _volume_mounts(mounts, volumes, f"{where}.volumeMounts")
    return causes


def _values_required(operator: Any, values: Any, path: str) -> list[Cause]:
    """The shared part of LabelSelectorRequirement and NodeSelectorRequirement checks."""
    if operator in ("In", "NotIn") and not values:
        return [
            v.required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        ]
    if operator in ("Exists", "DoesNotExist") and values:
        return [
            v.forbidden(
                f"{path}.values",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )
        ]
    return []


def _key(requirement: JSON, path: str) -> list[Cause]:
    key = requirement.get("key")
    return v.qualified_name(f"{path}.key", key if isinstance(key, str) else "")


def label_selector(selector: Any, path: str) -> list[Cause]:
    """metav1 validation.ValidateLabelSelector (invalid label values refused)."""
    if not isinstance(selector, dict):
        return []
    causes: list[Cause] = []
    if isinstance(selector.get("matchLabels"), dict):
        causes += v.labels(f"{path}.matchLabels", selector["matchLabels"])
    for index, requirement in indexed_objects(selector.get("matchExpressions")):
        where = f"{path}.matchExpressions[{index}]"
        operator, values = requirement.get("operator"), requirement.get("values")
        if operator in LABEL_SELECTOR_OPERATORS:
            causes += _values_required(operator, values, where)
        else:
            causes.append(v.invalid(f"{where}.operator", operator, "not a valid selector operator"))
        causes += _key(requirement, where)
        for vindex, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, str):
                causes += v.invalid_each(
                    f"{where}.values[{vindex}]", value, v.is_label_value(value)
                )
    return causes


def _node_selector_term(term: JSON, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, requirement in indexed_objects(term.get("matchExpressions")):
        where = f"{path}.matchExpressions[{index}]"
        operator, values = requirement.get("operator"), requirement.get("values")
        if operator in ("Gt", "Lt"):
            if not isinstance(values, list) or len(values) != 1:
                causes.append(
                    v.required(
                        f"{where}.values",
                        "must be specified single value when `operator` is 'Lt' or 'Gt'",
                    )
                )
        elif operator in NODE_SELECTOR_OPERATORS:
            causes += _values_required(operator, values, where)
        else:
            causes.append(v.invalid(f"{where}.operator", operator, "not a valid selector operator"))
        causes += _key(requirement, where)
    for index, requirement in indexed_objects(term.get("matchFields")):
        where = f"{path}.matchFields[{index}]"
        operator, values = requirement.get("operator"), requirement.get("values")
        if operator not in ("In", "NotIn"):
            causes.append(v.invalid(f"{where}.operator", operator, "not a valid selector operator"))
        elif not isinstance(values, list) or len(values) != 1:
            causes.append(
                v.required(
                    f"{where}.values",
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field "
                    "selector",
                )
            )
        if requirement.get("key") != "metadata.name":
            causes.append(
                v.invalid(f"{where}.key", requirement.get("key"), "not a valid field selector key")
            )
    return causes


def _preferred(affinity: JSON, path: str, inner: str, check: TermCheck) -> list[Cause]:
    """Weighted terms: a weight of 1-100 and the term itself under `inner`."""
    causes: list[Cause] = []
    for index, weighted in indexed_objects(affinity.get(PREFERRED)):
        where = f"{path}.{PREFERRED}[{index}]"
        weight = weighted.get("weight")
        if isinstance(weight, int) and not 0 < weight <= 100:
            causes.append(v.invalid(f"{where}.weight", weight, "must be in the range 1-100"))
        if isinstance(weighted.get(inner), dict):
            causes += check(weighted[inner], f"{where}.{inner}")
    return causes


def _node_affinity(affinity: JSON, path: str) -> list[Cause]:
    causes: list[Cause] = []
    required = affinity.get(REQUIRED)
    if isinstance(required, dict):
        where = f"{path}.{REQUIRED}.nodeSelectorTerms"
        terms = list(indexed_objects(required.get("nodeSelectorTerms")))
        if not terms:
            causes.append(v.required(where, "must have at least one node selector term"))
        for index, term in terms:
            causes += _node_selector_term(term, f"{where}[{index}]")
    return causes + _preferred(affinity, path, "preference", _node_selector_term)


def _pod_affinity_term(term: JSON, path: str) -> list[Cause]:
    causes = label_selector(term.get("labelSelector"), f"{path}.labelSelector")
    causes += label_selector(term.get("namespaceSelector"), f"{path}.namespaceSelector")
    for namespace in term.get("namespaces") or []:
        if isinstance(namespace, str):
            # the apiserver names the field "namespace" here
            causes += v.dns1123_label(f"{path}.namespace", namespace)
    topology_key = term.get("topologyKey")
    if not topology_key:
        causes.append(v.required(f"{path}.topologyKey", "can not be empty"))
    if isinstance(topology_key, str) or topology_key is None:
        causes += v.qualified_name(f"{path}.topologyKey", topology_key or "")
    return causes


def _pod_affinity(affinity: JSON, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, term in indexed_objects(affinity.get(REQUIRED)):
        causes += _pod_affinity_term(term, f"{path}.{REQUIRED}[{index}]")
    return causes + _preferred(affinity, path, "podAffinityTerm", _pod_affinity_term)


def _affinity(affinity: Any, path: str) -> list[Cause]:
    if not isinstance(affinity, dict):
        return []
    causes: list[Cause] = []
    if isinstance(affinity.get("nodeAffinity"), dict):
        causes += _node_affinity(affinity["nodeAffinity"], f"{path}.nodeAffinity")
    for kind in ("podAffinity", "podAntiAffinity"):
        if isinstance(affinity.get(kind), dict):
            causes += _pod_affinity(affinity[kind], f"{path}.{kind}")
    return causes


def _sysctl_namespace(name: str) -> str:
    """utilsysctl.GetNamespace: which Linux namespace a sysctl belongs to ('' for none)."""
    dotted = name.replace("/", ".")  # only the leading segments matter here
    if dotted == "kernel.sem" or dotted.startswith(_IPC_SYSCTLS):
        return "ipc"
    if dotted.startswith("net."):
        return "net"
    return ""


def _sysctls(spec: JSON, path: str) -> list[Cause]:
    context = spec.get("securityContext")
    if not isinstance(context, dict):
        return []
    causes: list[Cause] = []
    names: set[str] = set()
    for index, sysctl in indexed_objects(context.get("sysctls")):
        where = f"{path}.securityContext.sysctls[{index}].name"
        name = sysctl.get("name")
        if not isinstance(name, str) or not name:
            causes.append(v.required(where))
            continue
        if len(name) > 253 or not _SYSCTL_NAME.match(name):
            causes.append(v.invalid(where, name, SYSCTL_NAME_MSG))
        elif name in names:
            causes.append(v.duplicate(where, name))
        names.add(name)
        namespace = _sysctl_namespace(name)
        if namespace == "net" and spec.get("hostNetwork"):
            causes.append(v.invalid(where, name, "may not be specified when 'hostNetwork' is true"))
        elif namespace == "ipc" and spec.get("hostIPC"):
            causes.append(v.invalid(where, name, "may not be specified when 'hostIPC' is true"))
    return causes


def validate_pod_spec(spec: Any, path: str, restart_policies: tuple[str, ...]) -> list[Cause]:
    if not isinstance(spec, dict):
        return [v.required(path)]
    volumes, causes = _volumes(spec, path)
    causes += _containers(spec, path, volumes)
    policy = spec.get("restartPolicy")
    if policy not in restart_policies:
        causes.append(v.not_supported(f"{path}.restartPolicy", policy, restart_policies))
    dns = spec.get("dnsPolicy")
    if isinstance(dns, str) and dns not in DNS_POLICIES:
        causes.append(v.not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not 0 < deadline <= MAX_INT32:
        causes.append(
            v.invalid(
                f"{path}.activeDeadlineSeconds",
                deadline,
                f"must be between 1 and {MAX_INT32}, inclusive",
            )
        )
    if isinstance(spec.get("nodeSelector"), dict):
        causes += v.labels(f"{path}.nodeSelector", spec["nodeSelector"])
    causes += _sysctls(spec, path)
    causes += _affinity(spec.get("affinity"), f"{path}.affinity")
    # validateReadinessGates: each conditionType a qualified name
    for index, gate in indexed_objects(spec.get("readinessGates")):
        kind = gate.get("conditionType")
        if isinstance(kind, str):
            causes += v.strict_qualified_name(f"{path}.readinessGates[{index}].conditionType", kind)
    for field in ("hostname", "subdomain"):
        if isinstance(spec.get(field), str) and spec[field]:
            causes += v.dns1123_label(f"{path}.{field}", spec[field])
    runtime_class = spec.get("runtimeClassName")
    if isinstance(runtime_class, str):
        causes += v.dns1123_subdomain(f"{path}.runtimeClassName", runtime_class)
    return causes


def pod_spec_warnings(spec: Any, path: str) -> list[str]:
    """Port names shared by two containers of a pod: accepted, with a warning (warnings.go)."""
    if not isinstance(spec, dict):
        return []
    warnings = []
    first: dict[str, str] = {}
    sidecars = [
        (f"{path}.initContainers[{i}]", c)
        for i, c in indexed_objects(spec.get("initContainers"))
        if c.get("restartPolicy") == "Always"
    ]
    mains = [(f"{path}.containers[{i}]", c) for i, c in indexed_objects(spec.get("containers"))]
    for where, container in sidecars + mains:  # the order VisitContainersWithPath walks them
        for index, port in indexed_objects(container.get("ports")):
            name = port.get("name")
            if not isinstance(name, str) or not name:
                continue
            here = f"{where}.ports[{index}]"
            if name not in first:
                first[name] = here
            elif not first[name].startswith(f"{where}."):  # within a container it is a 422
                other = first[name]
                warnings.append(
                    f"{here}: duplicate port name {v.show(name)} with {other}, services and "
                    f"probes that select ports by name will use {other}"
                )
    return warnings


# pods/status (ValidatePodStatusUpdate)

SYSTEM_CONDITIONS = ("PodScheduled", "Ready", "Initialized")
IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _state_transitions(
    new: Any, old: Any, path: str, policy: Any, restartable: frozenset[str] = frozenset()
) -> list[Cause]:
    """A container that will not restart may not leave the terminated state."""
    if policy == "Always":
        return []
    causes = []
    states = {s.get("name"): s.get("state") or {} for _, s in indexed_objects(new)}
    for index, status in indexed_objects(old):
        terminated = (status.get("state") or {}).get("terminated")
        name = status.get("name")
        if terminated is None or name in restartable or name not in states:
            continue
        if terminated.get("exitCode") and policy == "OnFailure":
            continue
        if "terminated" not in states[name]:
            causes.append(
                v.forbidden(
                    f"{path}[{index}].state", "may not be transitioned to non-terminated state"
                )
            )
    return causes


def _ip_addresses(entries: Any, path: str) -> list[Cause]:
    causes = []
    families = []
    for index, entry in indexed_objects(entries):
        ip = entry.get("ip")
        try:
            families.append(ipaddress.ip_address(str(ip)).version)
        except ValueError:
            causes.append(v.invalid(f"{path}[{index}]", ip, IP_MSG))
    if not causes and len(families) > 1 and sorted(families) != [4, 6]:
        causes.append(
            v.invalid(path, entries, "may specify no more than one IP for each IP family")
        )
    return causes


def validate_pod_status_update(new: JSON, old: JSON) -> list[Cause]:
    """The rules a pods/status write must follow; the phase is not one of them upstream."""
    status, before = new.get("status") or {}, old.get("status") or {}
    causes: list[Cause] = []
    for index, condition in indexed_objects(status.get("conditions")):
        kind = condition.get("type")
        if isinstance(kind, str) and kind not in SYSTEM_CONDITIONS:
            # the apiserver puts these under "metadata" (fldPath.Child("conditions") of metadata)
            causes += v.strict_qualified_name(f"metadata.conditions[{index}].Type", kind)
    nominated = status.get("nominatedNodeName")
    if isinstance(nominated, str) and nominated and nominated != before.get("nominatedNodeName"):
        causes += v.dns1123_subdomain("status.nominatedNodeName", nominated)
    spec = old.get("spec") or {}
    policy = spec.get("restartPolicy")
    causes += _state_transitions(
        status.get("containerStatuses"),
        before.get("containerStatuses"),
        "status.containerStatuses",
        policy,
    )
    sidecars = frozenset(
        str(c.get("name"))
        for _, c in indexed_objects(spec.get("initContainers"))
        if c.get("restartPolicy") == "Always"
    )
    causes += _state_transitions(
        status.get("initContainerStatuses"),
        before.get("initContainerStatuses"),
        "status.initContainerStatuses",
        policy,
        sidecars,
    )
    causes += _ip_addresses(status.get("podIPs"), "status.podIPs")
    host_ips = list(indexed_objects(status.get("hostIPs")))
    if host_ips and host_ips[0][1].get("ip") != status.get("hostIP"):
        first = host_ips[0][1].get("ip")
        causes.append(v.invalid("status.hostIPs[0].ip", first, "must be equal to `hostIP`"))
    return causes + _ip_addresses(status.get("hostIPs"), "status.hostIPs")
