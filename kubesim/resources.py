"""The resource types the server knows (built-in and from CRDs) and their discovery documents."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

JSON = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


class NameRule(Enum):
    """Which apimachinery name validation the apiserver applies to metadata.name."""

    SUBDOMAIN = "subdomain"
    LABEL = "label"
    DNS1035 = "dns1035"


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    name_rule: NameRule = NameRule.SUBDOMAIN
    status_subresource: bool = False
    # subresources served for GET only, with options of their own (pods/log)
    read_subresources: tuple[str, ...] = ()
    has_generation: bool = False
    # pods and services answer a finished delete with the object, the rest with a Status
    returns_deleted_object: bool = False
    # namespaces have no DELETE on their collection (their REST storage has no DeleteCollection)
    collection_delete: bool = True
    # openAPIV3Schema of a custom resource; built-ins use the upstream schemas instead
    crd_schema: JSON | None = field(default=None, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def custom(self) -> bool:
        return self.crd_schema is not None

    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def discovery_entries(self) -> list[JSON]:
        entry: JSON = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": [
                verb for verb in ALL_VERBS if verb != "deletecollection" or self.collection_delete
            ],
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        entries = [entry]
        for sub in self.read_subresources:  # discovery lists subresources by name
            entries.append(
                {
                    "name": f"{self.plural}/{sub}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get"],
                }
            )
        if self.status_subresource:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": list(STATUS_VERBS),
                }
            )
        return entries


def _core(plural: str, kind: str, **kw: Any) -> ResourceType:
    return ResourceType("", "v1", plural, kind.lower(), kind, **kw)


BUILTINS: tuple[ResourceType, ...] = (
    _core(
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        name_rule=NameRule.LABEL,
        status_subresource=True,
        returns_deleted_object=True,
        collection_delete=False,
    ),
    _core(
        "pods",
        "Pod",
        namespaced=True,
        short_names=("po",),
        categories=("all",),
        status_subresource=True,
        read_subresources=("log",),
        has_generation=True,
        returns_deleted_object=True,
    ),
    _core(
        "services",
        "Service",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        name_rule=NameRule.DNS1035,
        status_subresource=True,
        returns_deleted_object=True,
    ),
    _core("secrets", "Secret", namespaced=True),
    _core("configmaps", "ConfigMap", namespaced=True, short_names=("cm",)),
    _core("events", "Event", namespaced=True, short_names=("ev",)),
    _core("nodes", "Node", namespaced=False, short_names=("no",), status_subresource=True),
    ResourceType(
        "batch",
        "v1",
        "jobs",
        "job",
        "Job",
        namespaced=True,
        categories=("all",),
        status_subresource=True,
        has_generation=True,
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "networkpolicy",
        "NetworkPolicy",
        namespaced=True,
        short_names=("netpol",),
        has_generation=True,
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "ingress",
        "Ingress",
        namespaced=True,
        short_names=("ing",),
        status_subresource=True,
        has_generation=True,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        status_subresource=True,
        has_generation=True,
    ),
    ResourceType(
        "node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", namespaced=False
    ),
)


def builtin(plural: str) -> ResourceType:
    return next(rt for rt in BUILTINS if rt.plural == plural)


NAMESPACES = builtin("namespaces")
PODS = builtin("pods")
SERVICES = builtin("services")
EVENTS = builtin("events")
CONFIG_MAPS = builtin("configmaps")
SECRETS = builtin("secrets")
NODES = builtin("nodes")
JOBS = builtin("jobs")
CRDS = builtin("customresourcedefinitions")
RUNTIME_CLASSES = builtin("runtimeclasses")


def custom_types_of(crd: JSON) -> list[ResourceType]:
    """The served versions of a CustomResourceDefinition as resource types."""
    spec = crd["spec"]
    names = spec["names"]
    found = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        found.append(
            ResourceType(
                spec["group"],
                version["name"],
                names["plural"],
                names.get("singular") or names["kind"].lower(),
                names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in (version.get("subresources") or {}),
                has_generation=True,
                crd_schema=schema,
            )
        )
    return found


class Registry:
    """Resource types by URL position; custom types come and go with their CRDs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._custom: dict[str, list[ResourceType]] = {}  # CRD name -> its types
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._rebuild()

    def _rebuild(self) -> None:
        types = list(BUILTINS) + [rt for rts in self._custom.values() for rt in rts]
        # replaced wholesale so readers never see a half-built map
        self._by_path = {(rt.group, rt.version, rt.plural): rt for rt in types}

    def set_custom(self, crd_name: str, types: list[ResourceType]) -> None:
        with self._lock:
            if types:
                self._custom[crd_name] = types
            else:
                self._custom.pop(crd_name, None)
            self._rebuild()

    def clear_custom(self) -> None:
        with self._lock:
            self._custom.clear()
            self._rebuild()

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    @staticmethod
    def builtin_group(group: str) -> bool:
        """Is `group` served by the apiserver's own handlers (not the CRD handler)?"""
        return any(rt.group == group for rt in BUILTINS)

    def by_key(self, group: str, plural: str) -> ResourceType | None:
        return next(
            (rt for rt in self._by_path.values() if (rt.group, rt.plural) == (group, plural)), None
        )

    def all(self) -> list[ResourceType]:
        return list(self._by_path.values())

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The type of a kind in its group, whatever the version (as a RESTMapper maps it)."""
        group = api_version.rpartition("/")[0]
        return next(
            (rt for rt in self._by_path.values() if (rt.group, rt.kind) == (group, kind)), None
        )

    def group_versions(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for rt in self._by_path.values():
            if rt.group and rt.version not in found.setdefault(rt.group, []):
                found[rt.group].append(rt.version)
        return found

    # discovery documents

    def api_versions(self) -> JSON:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        }

    def api_group(self, group: str) -> JSON | None:
        versions = self.group_versions().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def api_group_list(self) -> JSON:
        groups = [self.api_group(g) for g in sorted(self.group_versions())]
        for group in groups:
            if group is not None:
                del group["kind"], group["apiVersion"]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_resource_list(self, group: str, version: str) -> JSON | None:
        types = [rt for rt in self._by_path.values() if (rt.group, rt.version) == (group, version)]
        if not types:
            return None
        resources = [
            entry
            for rt in sorted(types, key=lambda r: r.plural)
            for entry in rt.discovery_entries()
        ]
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }
