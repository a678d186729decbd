"""Turns a request path and method into the verb, resource type and object it addresses."""

from __future__ import annotations

from dataclasses import dataclass

from kubesim import errors
from kubesim.resources import Registry, ResourceType

SUBRESOURCES = ("status", "finalize", "log")


@dataclass(frozen=True)
class Route:
    verb: str
    rt: ResourceType
    namespace: str | None  # None: cluster-scoped, or across all namespaces
    name: str = ""
    subresource: str = ""
    allowed: bool = True  # False: no handler for this method here (a 405)

    @property
    def resource(self) -> str:
        return f"{self.rt.plural}/{self.subresource}" if self.subresource else self.rt.plural


def group_version_of(segments: list[str]) -> tuple[str, str, list[str]] | None:
    """(group, version, rest) for /api/v1/... and /apis/<group>/<version>/..."""
    if len(segments) >= 2 and segments[0] == "api":
        return "", segments[1], segments[2:]
    if len(segments) >= 3 and segments[0] == "apis":
        return segments[1], segments[2], segments[3:]
    return None


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def _verb(method: str, has_name: bool, watch: bool) -> str:
    """The request's verb as the apiserver's RequestInfo names it, served or not."""
    if method == "GET":
        return "watch" if watch else ("get" if has_name else "list")
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return _VERBS.get(method, method.lower())


def _served(verb: str, rt: ResourceType, has_name: bool, namespace: str | None, sub: str) -> bool:
    """Does the apiserver register a handler for this verb on this path?"""
    if sub in rt.read_subresources:
        return verb == "get"
    if sub:
        return verb in ("get", "update", "patch")
    if verb in ("update", "patch"):
        return has_name
    if verb == "deletecollection":
        return rt.collection_delete
    if verb == "create":  # a collection, and for a namespaced kind one namespace's collection
        return not has_name and (namespace is not None or not rt.namespaced)
    return True


def unknown_path(registry: Registry, segments: list[str]) -> errors.ApiError:
    """The 404 of a path nothing serves: a Status under /api and the built-in groups (go-restful
    owns those prefixes), Go's text elsewhere (unknown groups, CRD groups, other paths)."""
    if segments[:1] == ["api"] or (
        segments[:1] == ["apis"] and len(segments) > 1 and registry.builtin_group(segments[1])
    ):
        return errors.path_not_found()
    return errors.page_not_found()


def resolve(registry: Registry, method: str, segments: list[str], watch: bool) -> Route | None:
    """The Route of a resource URL; None when the path names no resource (a discovery path)."""
    found = group_version_of(segments)
    if found is None or not found[2]:
        return None
    group, version, rest = found
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    plural, name = rest[0], (rest[1] if len(rest) > 1 else "")
    subresource = rest[2] if len(rest) > 2 else ""
    rt = registry.lookup(group, version, plural)
    if rt is None:
        raise unknown_path(registry, segments)
    if len(rest) > 3 or (namespace is not None and not rt.namespaced):
        raise errors.path_not_found() if not rt.custom else errors.page_not_found()
    if (
        subresource
        and (subresource != "status" or not rt.status_subresource)
        and not (subresource == "finalize" and rt.plural == "namespaces")
        and subresource not in rt.read_subresources
    ):
        raise errors.path_not_found()
    if rt.namespaced and name and namespace is None:
        raise errors.path_not_found()
    verb = _verb(method, bool(name), watch and not name)
    if rt.custom and verb in ("update", "patch") and not name:
        raise errors.bad_request("name must be provided")  # the CRD handler's own check
    served = _served(verb, rt, bool(name), namespace, subresource)
    return Route(verb, rt, namespace, name, subresource, served)
