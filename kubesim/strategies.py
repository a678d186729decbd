"""Per-kind rules the apiserver applies around storage: defaults, extra validation, update rules.

Named after the apiserver's registry strategies (PrepareForCreate, Validate, PrepareForUpdate,
ValidateUpdate); only the parts a client can observe are modelled.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
from typing import Any

from kubesim import kindvalidation as kinds
from kubesim import validation as v
from kubesim.addresses import ServiceAddresses
from kubesim.decoding import base64_size
from kubesim.errors import Cause, internal_error
from kubesim.podvalidation import (
    VOLUME_SOURCES,
    pod_spec_warnings,
    validate_pod_spec,
    validate_pod_status_update,
)
from kubesim.resources import ResourceType

JSON = dict[str, Any]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _spec_of(obj: JSON) -> JSON:
    """Everything but metadata and status: what bumps metadata.generation when it changes."""
    return {
        k: val for k, val in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")
    }


class Strategy:
    # whether the update rules come before the create rules in an update's causes (the order
    # of the apiserver's ValidateXUpdate)
    update_rules_first = False

    def default(self, obj: JSON) -> None:
        """The scheme's defaults (SetDefaults_*), applied to every object decoded from a request:
        creates, updates and patches alike."""

    def prepare_for_create(self, obj: JSON) -> None:
        """What the strategy and admission set on a new object, after `default`."""

    def validate(self, obj: JSON) -> list[Cause]:
        return []

    def allocate(self, obj: JSON, addresses: ServiceAddresses) -> list[Cause]:
        """Runs under the store lock just before a create is stored (IPs, ports, selectors)."""
        return []

    def prepare_for_update(self, new: JSON, old: JSON) -> None:
        """Main-resource updates keep the stored status."""
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)

    def validate_update(self, new: JSON, old: JSON) -> list[Cause]:
        return []

    def validate_status_update(self, new: JSON, old: JSON) -> list[Cause]:
        """Rules of the /status subresource beyond the schema (the status strategy's Validate)."""
        return []

    def warnings(self, obj: JSON) -> list[str]:
        """What the apiserver accepts but warns about (WarningsOnCreate, WarningsOnUpdate)."""
        return []

    def spec_changed(self, new: JSON, old: JSON) -> bool:
        return _spec_of(new) != _spec_of(old)


def prepare_status_update(new: JSON, old: JSON) -> None:
    """The /status subresource changes status and nothing else."""
    status = new.get("status")
    new.clear()
    new.update(copy.deepcopy(old))
    if status is None:
        new.pop("status", None)
    else:
        new["status"] = status


# Pods


def _pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    return "Always" if ":" not in tail or tail.endswith(":latest") else "IfNotPresent"


_PROBE_DEFAULTS = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}


# volume sources whose files get mode 0644 (420) unless told otherwise
_DEFAULT_MODE_SOURCES = ("configMap", "secret", "downwardAPI", "projected")
_VOLUME_SOURCE_FIELDS = frozenset(field for field, _ in VOLUME_SOURCES)


def _default_volumes(spec: JSON) -> None:
    """SetDefaults_Volume and the sources' defaults: a volume without a source is an emptyDir."""
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        if not _VOLUME_SOURCE_FIELDS & volume.keys():
            volume["emptyDir"] = {}
        for field in _DEFAULT_MODE_SOURCES:
            if isinstance(volume.get(field), dict):
                volume[field].setdefault("defaultMode", 420)
        if isinstance(volume.get("hostPath"), dict):
            volume["hostPath"].setdefault("type", "")


def _default_env(container: JSON) -> None:
    """SetDefaults_ObjectFieldSelector: a fieldRef's apiVersion is v1 unless given."""
    for var in container.get("env") or []:
        source = var.get("valueFrom") if isinstance(var, dict) else None
        field_ref = source.get("fieldRef") if isinstance(source, dict) else None
        if isinstance(field_ref, dict) and not field_ref.get("apiVersion"):
            field_ref["apiVersion"] = "v1"


def default_pod_spec(spec: JSON) -> None:
    _default_volumes(spec)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if not isinstance(container, dict):
            continue
        if isinstance(container.get("image"), str):
            container.setdefault("imagePullPolicy", _pull_policy(container["image"]))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        _default_env(container)
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if isinstance(container.get(probe), dict):
                for key, default in _PROBE_DEFAULTS.items():
                    container[probe].setdefault(key, default)


# fields of a pod's spec that an update may change (validation.ValidatePodUpdate)
_MUTABLE_POD_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _pod_spec_without_mutable(spec: JSON) -> JSON:
    spec = {k: val for k, val in spec.items() if k not in _MUTABLE_POD_SPEC}
    for group in ("containers", "initContainers"):
        if group in spec:
            spec[group] = [{k: val for k, val in c.items() if k != "image"} for c in spec[group]]
    return spec


def _requests_from_limits(spec: JSON) -> None:
    """SetDefaults_Pod (pods only, not templates): a limit without a request is the request."""
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        resources = container.get("resources") if isinstance(container, dict) else None
        if isinstance(resources, dict) and v.mapping(resources, "limits"):
            requests = v.mapping(resources, "requests")
            resources["requests"] = {**v.mapping(resources, "limits"), **requests}


class PodStrategy(Strategy):
    def default(self, obj: JSON) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            default_pod_spec(spec)
            _requests_from_limits(spec)
            spec.setdefault("enableServiceLinks", True)
            spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
            if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
                spec["serviceAccountName"] = spec["serviceAccount"]  # the deprecated spelling

    def prepare_for_create(self, obj: JSON) -> None:
        spec = obj["spec"]
        if isinstance(spec, dict):
            spec.setdefault("priority", 0)
            spec.setdefault("serviceAccountName", "default")
            spec.setdefault("serviceAccount", spec["serviceAccountName"])
            tolerations = spec.setdefault("tolerations", [])
            if isinstance(tolerations, list):
                known = {t.get("key") for t in tolerations if isinstance(t, dict)}
                for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
                    if taint not in known:
                        tolerations.append(
                            {
                                "key": taint,
                                "operator": "Exists",
                                "effect": "NoExecute",
                                "tolerationSeconds": 300,
                            }
                        )
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}

    def validate(self, obj: JSON) -> list[Cause]:
        return validate_pod_spec(obj.get("spec"), "spec", ("Always", "OnFailure", "Never"))

    def validate_status_update(self, new: JSON, old: JSON) -> list[Cause]:
        return validate_pod_status_update(new, old)

    def warnings(self, obj: JSON) -> list[str]:
        return pod_spec_warnings(obj.get("spec"), "spec")

    def validate_update(self, new: JSON, old: JSON) -> list[Cause]:
        if _pod_spec_without_mutable(new["spec"]) != _pod_spec_without_mutable(old["spec"]):
            return [
                v.forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                    "`spec.tolerations` (only additions to existing tolerations),"
                    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                    "previously negative)",
                )
            ]
        return []


def _qos_class(spec: Any) -> str:
    containers = spec.get("containers") if isinstance(spec, dict) else None
    resources = [c.get("resources") or {} for c in containers or [] if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits")
        and all(r["limits"].get(k) for k in ("cpu", "memory"))
        and (not r.get("requests") or r["requests"] == r["limits"])
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


# Services


class ServiceStrategy(Strategy):
    def default(self, obj: JSON) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port and port.get("targetPort") in (None, 0, ""):
                    port["targetPort"] = port["port"]

    def prepare_for_create(self, obj: JSON) -> None:
        spec = obj["spec"]
        if isinstance(spec, dict) and spec.get("type") != "ExternalName":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        obj["status"] = {"loadBalancer": {}}

    def validate(self, obj: JSON) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [v.required("spec")]
        causes = kinds.service_type(spec)
        headless = spec.get("clusterIP") == "None"
        if not spec.get("ports") and not headless and spec.get("type") != "ExternalName":
            causes.append(v.required("spec.ports"))
        causes += kinds.service_ports(spec)
        if isinstance(spec.get("selector"), dict):
            causes += v.labels("spec.selector", spec["selector"])
        cluster_ip = spec.get("clusterIP")
        if isinstance(cluster_ip, str) and cluster_ip not in ("", "None"):
            try:
                ipaddress.ip_address(cluster_ip)
            except ValueError:
                causes.append(
                    v.invalid("spec.clusterIPs[0]", cluster_ip, "must be a valid IP address")
                )
        return causes

    def allocate(self, obj: JSON, addresses: ServiceAddresses) -> list[Cause]:
        spec = obj["spec"]
        if spec["type"] == "ExternalName":
            return []
        wanted = spec.get("clusterIP")
        if wanted and wanted != "None":
            ip = int(ipaddress.ip_address(wanted))
            if ip not in addresses.cluster_ips:
                problem = "the provided IP is not in the valid range"
            elif ip in addresses.cluster_ips.used:
                problem = "provided IP is already allocated"
            else:
                problem = ""
            if problem:
                failure = f"failed to allocate IP {wanted}: {problem}"
                return [v.invalid("spec.clusterIPs", [wanted], failure)]
        elif not wanted:
            found = addresses.cluster_ips.next_free()
            if found is None:
                raise internal_error("failed to allocate a serviceIP: range is full")
            wanted = str(ipaddress.ip_address(found))
        spec["clusterIP"] = wanted
        spec["clusterIPs"] = [wanted]
        if spec["type"] in ("NodePort", "LoadBalancer"):
            chosen: set[int] = set()
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    node_port = addresses.node_ports.next_free(chosen)
                    if node_port is None:
                        raise internal_error("failed to allocate a nodePort: range is full")
                    port["nodePort"] = node_port
                    chosen.add(node_port)
        return []

    def prepare_for_update(self, new: JSON, old: JSON) -> None:
        super().prepare_for_update(new, old)
        # like the apiserver's patchAllocatedValues: an update that omits them keeps them
        spec, old_spec = new.get("spec"), old["spec"]
        if isinstance(spec, dict):
            for key in ("clusterIP", "clusterIPs"):
                if not spec.get(key) and old_spec.get(key):
                    spec[key] = old_spec[key]

    def validate_update(self, new: JSON, old: JSON) -> list[Cause]:
        if new["spec"].get("clusterIP") != old["spec"].get("clusterIP"):
            return [
                v.invalid(
                    "spec.clusterIPs[0]", new["spec"].get("clusterIP"), "may not change once set"
                )
            ]
        return []


# Namespaces


class NamespaceStrategy(Strategy):
    def prepare_for_create(self, obj: JSON) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec["finalizers"] = ["kubernetes"]
        obj["status"] = {"phase": "Active"}
        self._label(obj)

    @staticmethod
    def _label(obj: JSON) -> None:
        meta = obj["metadata"]
        if isinstance(meta.get("name"), str):
            labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
            meta["labels"] = {**labels, NAMESPACE_NAME_LABEL: meta["name"]}

    def prepare_for_update(self, new: JSON, old: JSON) -> None:
        super().prepare_for_update(new, old)
        new["spec"] = copy.deepcopy(
            old.get("spec", {})
        )  # spec.finalizers change via /finalize only
        self._label(new)


# Jobs

JOB_CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"


class JobStrategy(Strategy):
    def default(self, obj: JSON) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])

    def prepare_for_create(self, obj: JSON) -> None:
        obj["status"] = {}

    def validate(self, obj: JSON) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [v.required("spec")]
        template = spec.get("template")
        if not isinstance(template, dict):
            return [v.required("spec.template")]
        causes = kinds.job_counts(spec) + validate_pod_spec(
            template.get("spec"), "spec.template.spec", ("OnFailure", "Never")
        )
        if isinstance((template.get("metadata") or {}).get("labels"), dict):
            causes += v.labels("spec.template.metadata.labels", template["metadata"]["labels"])
        return causes + kinds.job_selector(spec, str(obj["metadata"].get("uid") or ""))

    def warnings(self, obj: JSON) -> list[str]:
        template = (obj.get("spec") or {}).get("template")
        return pod_spec_warnings((template or {}).get("spec"), "spec.template.spec")

    def allocate(self, obj: JSON, addresses: ServiceAddresses) -> list[Cause]:
        uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
        ids = {JOB_CONTROLLER_UID: uid, JOB_NAME: name, "controller-uid": uid, "job-name": name}
        spec = obj["spec"]
        spec.setdefault("selector", {"matchLabels": {JOB_CONTROLLER_UID: uid}})
        template_meta = spec["template"].setdefault("metadata", {})
        template_meta["labels"] = {**(template_meta.get("labels") or {}), **ids}
        return []

    def validate_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = []
        for key in ("template", "selector", "completions", "completionMode"):
            if new["spec"].get(key) != old["spec"].get(key):
                causes.append(v.invalid(f"spec.{key}", new["spec"].get(key), "field is immutable"))
        return causes


# NetworkPolicies


class NetworkPolicyStrategy(Strategy):
    def validate(self, obj: JSON) -> list[Cause]:
        return kinds.network_policy(obj)

    def default(self, obj: JSON) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if "policyTypes" not in spec:
            spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction) or []:
                for port in (rule or {}).get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")


class IngressStrategy(Strategy):
    def validate(self, obj: JSON) -> list[Cause]:
        return kinds.ingress(obj)


class EventStrategy(Strategy):
    def validate(self, obj: JSON) -> list[Cause]:
        return kinds.event(obj)


class RuntimeClassStrategy(Strategy):
    def validate(self, obj: JSON) -> list[Cause]:
        return kinds.runtime_class(obj)

    def validate_update(self, new: JSON, old: JSON) -> list[Cause]:
        return kinds.immutable(new.get("handler"), old.get("handler"), "handler")


# ConfigMaps and Secrets

MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize, for ConfigMaps too
IMMUTABLE_MSG = "field is immutable when `immutable` is set"


def _keys(field: str, values: JSON) -> list[Cause]:
    causes = []
    for key in values:
        causes += v.invalid_each(f"{field}[{key}]", key, v.is_config_map_key(key))
    return causes


def _immutable(new: JSON, old: JSON, fields: tuple[str, ...]) -> list[Cause]:
    """Once `immutable: true`, it stays, and so do the contents."""
    if old.get("immutable") is not True:
        return []
    causes = []
    if new.get("immutable") is not True:
        causes.append(v.forbidden("immutable", IMMUTABLE_MSG))
    for field in fields:
        if v.mapping(new, field) != v.mapping(old, field):
            causes.append(v.forbidden(field, IMMUTABLE_MSG))
    return causes


class ConfigMapStrategy(Strategy):
    update_rules_first = True

    def validate(self, obj: JSON) -> list[Cause]:
        """ValidateConfigMap: keys, no key in both maps, and at most 1 MiB of values (text bytes
        plus decoded binary bytes; keys are not counted), refused as a whole object ("[]")."""
        data, binary = v.mapping(obj, "data"), v.mapping(obj, "binaryData")
        causes = []
        total = 0
        for key, value in data.items():
            causes += v.invalid_each(f"data[{key}]", key, v.is_config_map_key(key))
            if key in binary:
                duplicate = "duplicate of key present in binaryData"
                causes.append(v.invalid(f"data[{key}]", key, duplicate))
            total += len(value.encode()) if isinstance(value, str) else 0
        causes += _keys("binaryData", binary)
        total += sum(base64_size(value) for value in binary.values() if isinstance(value, str))
        if total > MAX_SECRET_SIZE:
            causes.append(v.too_long("[]", MAX_SECRET_SIZE))
        return causes

    def validate_update(self, new: JSON, old: JSON) -> list[Cause]:
        return _immutable(new, old, ("data", "binaryData"))


# what each built-in Secret type must hold (ValidateSecret)
SERVICE_ACCOUNT_NAME = "kubernetes.io/service-account.name"
_SECRET_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


class SecretStrategy(Strategy):
    update_rules_first = True

    def prepare_for_create(self, obj: JSON) -> None:
        self._default(obj)

    @staticmethod
    def _default(obj: JSON) -> None:
        """SetDefaults_Secret (on every decode, updates too), then stringData into data."""
        if not obj.get("type"):
            obj["type"] = "Opaque"
        SecretStrategy._fold_string_data(obj)

    def validate(self, obj: JSON) -> list[Cause]:
        """ValidateSecret: keys, at most 1 MiB of decoded data, and each type's keys."""
        data = v.mapping(obj, "data")
        causes = _keys("data", data)
        if sum(base64_size(value) for value in data.values() if isinstance(value, str)) > (
            MAX_SECRET_SIZE
        ):
            causes.append(v.too_long("data", MAX_SECRET_SIZE))
        kind = obj.get("type")
        annotations = v.mapping(obj["metadata"], "annotations")
        if kind == "kubernetes.io/service-account-token" and not annotations.get(
            SERVICE_ACCOUNT_NAME
        ):
            causes.append(v.required(f"metadata.annotations[{SERVICE_ACCOUNT_NAME}]"))
        elif kind == "kubernetes.io/basic-auth" and not {"username", "password"} & set(data):
            causes += [v.required("data[username]"), v.required("data[password]")]
        elif kind == "kubernetes.io/ssh-auth" and not data.get("ssh-privatekey"):
            causes.append(v.required("data[ssh-privatekey]"))
        elif isinstance(kind, str) and kind in _SECRET_KEYS:
            causes += [v.required(f"data[{key}]") for key in _SECRET_KEYS[kind] if key not in data]
        return causes

    def validate_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = []
        if new.get("type") != old.get("type"):
            causes.append(v.invalid("type", new.get("type"), "field is immutable"))
        return causes + _immutable(new, old, ("data",))

    @staticmethod
    def _fold_string_data(obj: JSON) -> None:
        """stringData is write-only: the apiserver folds it into data, base64-encoded."""
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data: JSON = obj["data"] if isinstance(obj.get("data"), dict) else {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data

    def prepare_for_update(self, new: JSON, old: JSON) -> None:
        self._default(new)


# CustomResourceDefinitions

CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class CrdStrategy(Strategy):
    def prepare_for_create(self, obj: JSON) -> None:
        spec = obj.get("spec")
        obj["status"] = {}
        if not isinstance(spec, dict) or not isinstance(spec.get("names"), dict):
            return
        names = dict(spec["names"])
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind', '')}List")
        spec["names"] = names
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if CRD_CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CRD_CLEANUP_FINALIZER)
        obj["status"] = {
            "acceptedNames": names,
            "conditions": [
                _condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                _condition(
                    "Established", "InitialNamesAccepted", "the initial names have been accepted"
                ),
            ],
            "storedVersions": [
                ver["name"] for ver in spec.get("versions") or [] if ver.get("storage")
            ],
        }

    def validate(self, obj: JSON) -> list[Cause]:
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        expected = f"{names.get('plural')}.{spec.get('group')}"
        name = obj["metadata"].get("name")
        if name != expected:
            return [v.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group')]
        return []


def _condition(kind: str, reason: str, message: str) -> JSON:
    return {"type": kind, "status": "True", "reason": reason, "message": message}


_STRATEGIES: dict[tuple[str, str], Strategy] = {
    ("", "pods"): PodStrategy(),
    ("", "services"): ServiceStrategy(),
    ("", "namespaces"): NamespaceStrategy(),
    ("", "secrets"): SecretStrategy(),
    ("", "configmaps"): ConfigMapStrategy(),
    ("batch", "jobs"): JobStrategy(),
    ("networking.k8s.io", "networkpolicies"): NetworkPolicyStrategy(),
    ("networking.k8s.io", "ingresses"): IngressStrategy(),
    ("", "events"): EventStrategy(),
    ("node.k8s.io", "runtimeclasses"): RuntimeClassStrategy(),
    ("apiextensions.k8s.io", "customresourcedefinitions"): CrdStrategy(),
}
_DEFAULT = Strategy()


def strategy_for(rt: ResourceType) -> Strategy:
    return _STRATEGIES.get((rt.group, rt.plural), _DEFAULT)
