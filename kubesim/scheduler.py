"""Binds pods to nodes: nodeSelector, required node affinity, required pod (anti-)affinity."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from kubesim.api import Api, type_key
from kubesim.events import EventRecorder
from kubesim.podstatus import condition_of, finished, set_condition
from kubesim.resources import NAMESPACES, PODS
from kubesim.selectors import (
    LabelSelector,
    Requirement,
    from_label_selector_object,
    labels_match,
)
from kubesim.store import Change

JSON = dict[str, Any]
COMPONENT = "default-scheduler"

NODE_SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
AFFINITY_MISMATCH = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_MISMATCH = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
TOO_MANY_PODS = "Too many pods"
MAX_PODS = 110  # the kubelet's default --max-pods, also the nodes' pods capacity


def node_labels(name: str) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
    }


def _required(affinity: JSON | None, kind: str) -> list[JSON]:
    terms = ((affinity or {}).get(kind) or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    return list(terms or [])


def _node_affinity_ok(pod: JSON, labels: dict[str, str]) -> bool:
    spec = pod["spec"]
    if not labels_match(
        tuple(
            Requirement(k, "In", frozenset([v]))
            for k, v in (spec.get("nodeSelector") or {}).items()
        ),
        labels,
    ):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if not required:
        return True
    for term in required.get("nodeSelectorTerms") or []:
        selector = from_label_selector_object(
            {"matchExpressions": term.get("matchExpressions") or []}
        )
        if selector is not None and labels_match(selector, labels):
            return True
    return False


def _domain(node: str, topology_key: str) -> str | None:
    return node_labels(node).get(topology_key)


@dataclass(frozen=True)
class Term:
    """A required pod (anti-)affinity term of one pod, its selectors parsed once."""

    topology_key: str
    selector: LabelSelector | None
    namespaces: tuple[str, ...]
    namespace_selector: LabelSelector | None

    @classmethod
    def of(cls, term: JSON, owner: JSON) -> Term:
        has_ns_selector = term.get("namespaceSelector") is not None
        explicit = tuple(term.get("namespaces") or ())
        return cls(
            topology_key=term.get("topologyKey", ""),
            selector=from_label_selector_object(term.get("labelSelector")),
            # without a namespace selector, the listed namespaces or the owner's own
            namespaces=explicit
            if explicit or has_ns_selector
            else (owner["metadata"]["namespace"],),
            namespace_selector=(
                (from_label_selector_object(term.get("namespaceSelector")) or ())
                if has_ns_selector
                else None
            ),
        )

    def matches(self, other: JSON, namespaces: dict[str, dict[str, str]]) -> bool:
        """Does `other` match this term?"""
        other_ns = other["metadata"]["namespace"]
        in_scope = other_ns in self.namespaces or (
            self.namespace_selector is not None
            and labels_match(self.namespace_selector, namespaces.get(other_ns, {}))
        )
        return (
            in_scope
            and self.selector is not None
            and labels_match(self.selector, other["metadata"].get("labels"))
        )


class Scheduler:
    def __init__(self, api: Api, events: EventRecorder, nodes: list[str]) -> None:
        self._api = api
        self._events = events
        self._nodes = nodes
        self._unschedulable: set[tuple[str, str]] = set()
        # bound pods, kept from the change stream so a decision does not rescan every pod
        self._placed: dict[tuple[str, str], JSON] = {}
        self._load: Counter[str] = Counter()
        self._holders: dict[tuple[str, str], JSON] = {}  # bound pods with required anti-affinity

    def clear(self) -> None:
        self._unschedulable.clear()
        self._placed.clear()
        self._load.clear()
        self._holders.clear()

    def _track(self, key: tuple[str, str], pod: JSON | None) -> None:
        """Record a bound pod (or its removal, with None)."""
        previous = self._placed.pop(key, None)
        self._holders.pop(key, None)
        if previous is not None:
            self._load[previous["spec"]["nodeName"]] -= 1
        if pod is None:
            return
        self._placed[key] = pod
        self._load[pod["spec"]["nodeName"]] += 1
        if _required(pod["spec"].get("affinity"), "podAntiAffinity"):
            self._holders[key] = pod

    def on_change(self, change: Change) -> None:
        if change.type_key != type_key(PODS):
            return
        pod, old = change.obj, change.old
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        if change.type == "DELETED":
            self._unschedulable.discard(key)
        # the scheduler's informer skips finished pods (status.phase!=Succeeded,Failed)
        if change.type == "DELETED" or finished(pod):
            self._track(key, None)
        elif pod["spec"].get("nodeName"):
            self._track(key, pod)
        if change.type == "ADDED" and not pod["spec"].get("nodeName"):
            self._schedule(key)
            return
        if change.type == "MODIFIED" and old is not None:
            bound = pod["spec"].get("nodeName") and not old["spec"].get("nodeName")
            ended = finished(pod) and not finished(old)
            relabelled = pod["metadata"].get("labels") != old["metadata"].get("labels")
            if not (bound or ended or relabelled):
                return
        # a pod went, finished, was bound or relabelled: waiting pods may fit now
        for waiting in sorted(self._unschedulable):
            self._schedule(waiting)

    def _schedule(self, key: tuple[str, str]) -> None:
        with self._api.store.lock:
            pod = self._api.store.get(type_key(PODS), *key)
            if (
                pod is None
                or pod["spec"].get("nodeName")
                or pod["metadata"].get("deletionTimestamp")
            ):
                self._unschedulable.discard(key)
                return
            node, why = self._choose(pod)
        if node is None:
            self._unschedulable.add(key)
            self._mark_unschedulable(pod, why)
            return
        self._unschedulable.discard(key)
        self._bind(pod, node)

    def _namespace_labels(self) -> dict[str, dict[str, str]]:
        return {
            n["metadata"]["name"]: n["metadata"].get("labels") or {}
            for n in self._api.store.list(type_key(NAMESPACES))
        }

    def _choose(self, pod: JSON) -> tuple[str | None, Counter[str]]:
        why: Counter[str] = Counter()
        load, holders = self._load, list(self._holders.values())
        affinity = _required(pod["spec"].get("affinity"), "podAffinity")
        anti_affinity = _required(pod["spec"].get("affinity"), "podAntiAffinity")
        placed = list(self._placed.values()) if affinity or anti_affinity else []
        namespaces = self._namespace_labels() if holders or placed else {}
        # Which topology domains hold a matching pod, per term: worked out once per pod, so a
        # decision costs one pass over the bound pods, not one per node.
        wanted = [self._domains(Term.of(t, pod), placed, namespaces) for t in affinity]
        shunned = [self._domains(Term.of(t, pod), placed, namespaces) for t in anti_affinity]
        refusals = self._existing_refusals(pod, holders, namespaces)
        feasible = []
        for node in self._nodes:
            labels = node_labels(node)
            if load[node] >= MAX_PODS:
                why[TOO_MANY_PODS] += 1
            elif not _node_affinity_ok(pod, labels):
                why[NODE_SELECTOR_MISMATCH] += 1
            elif not all(self._attracted(node, term, pod, namespaces) for term in wanted):
                why[AFFINITY_MISMATCH] += 1
            elif any(_domain(node, term.topology_key) in found for term, found in shunned):
                why[ANTI_AFFINITY_MISMATCH] += 1
            elif any(_domain(node, key) == domain for key, domain in refusals):
                why[EXISTING_ANTI_AFFINITY] += 1
            else:
                feasible.append(node)
        if not feasible:
            return None, why
        return min(feasible, key=lambda n: (load[n], self._nodes.index(n))), why

    @staticmethod
    def _domains(
        term: Term, placed: list[JSON], namespaces: dict[str, dict[str, str]]
    ) -> tuple[Term, set[str | None]]:
        """The term, and the topology domains of the bound pods it matches."""
        return term, {
            _domain(other["spec"]["nodeName"], term.topology_key)
            for other in placed
            if term.matches(other, namespaces)
        }

    @staticmethod
    def _attracted(
        node: str,
        term_domains: tuple[Term, set[str | None]],
        pod: JSON,
        namespaces: dict[str, dict[str, str]],
    ) -> bool:
        term, found = term_domains
        domain = _domain(node, term.topology_key)
        if domain is None:
            return False
        # the first pod of a group may go anywhere if it matches its own term
        return domain in found or (not found and term.matches(pod, namespaces))

    @staticmethod
    def _existing_refusals(
        pod: JSON, holders: list[JSON], namespaces: dict[str, dict[str, str]]
    ) -> list[tuple[str, str | None]]:
        """(topology key, domain) pairs where a bound pod's anti-affinity refuses this pod."""
        return [
            (term.topology_key, _domain(other["spec"]["nodeName"], term.topology_key))
            for other in holders
            for term in (
                Term.of(t, other)
                for t in _required(other["spec"].get("affinity"), "podAntiAffinity")
            )
            if term.matches(pod, namespaces)
        ]

    def _mark_unschedulable(self, pod: JSON, why: Counter[str]) -> None:
        reasons = ", ".join(f"{count} {text}" for text, count in sorted(why.items()))
        total = len(self._nodes)
        message = (
            f"0/{total} nodes are available: {reasons}. preemption: 0/{total} nodes are available: "
            f"{total} Preemption is not helpful for scheduling."
        )
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
        }
        previous = condition_of(pod, "PodScheduled")
        if previous is not None and previous.get("message") == message:
            return  # already reported

        def change(obj: JSON) -> None:
            set_condition(obj, condition)

        self._api.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], change)
        self._events.record(pod, "Warning", "FailedScheduling", message, COMPONENT)

    def _bind(self, pod: JSON, node: str) -> None:
        def change(obj: JSON) -> None:
            obj["spec"]["nodeName"] = node
            set_condition(obj, {"type": "PodScheduled", "status": "True"})

        meta = pod["metadata"]
        bound = self._api.mutate(PODS, meta["namespace"], meta["name"], change)
        if bound is not None:
            # known before the binding comes back through the change stream
            self._track((meta["namespace"], meta["name"]), bound)
            self._events.record(
                pod,
                "Normal",
                "Scheduled",
                f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                COMPONENT,
            )
