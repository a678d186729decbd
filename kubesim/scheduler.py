"""Binds pods to nodes: nodeSelector, required node affinity, required pod (anti-)affinity."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kubesim.api import Api, type_key
from kubesim.events import EventRecorder
from kubesim.podstatus import condition_of, set_condition
from kubesim.resources import NAMESPACES, PODS
from kubesim.selectors import Requirement, from_label_selector_object, labels_match
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
            self._track(key, None)
        elif pod["spec"].get("nodeName"):
            self._track(key, pod)
        if change.type == "ADDED" and not pod["spec"].get("nodeName"):
            self._schedule(key)
            return
        if change.type == "MODIFIED" and old is not None:
            bound = pod["spec"].get("nodeName") and not old["spec"].get("nodeName")
            if not bound and pod["metadata"].get("labels") == old["metadata"].get("labels"):
                return
        # a pod went, was bound or relabelled: waiting pods may fit now
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
        wants_pods = bool(
            _required(pod["spec"].get("affinity"), "podAffinity")
            or _required(pod["spec"].get("affinity"), "podAntiAffinity")
        )
        placed = list(self._placed.values()) if wants_pods else []
        namespaces = self._namespace_labels() if holders or wants_pods else {}
        feasible = []
        for node in self._nodes:
            labels = node_labels(node)
            if load[node] >= MAX_PODS:
                why[TOO_MANY_PODS] += 1
            elif not _node_affinity_ok(pod, labels):
                why[NODE_SELECTOR_MISMATCH] += 1
            elif not self._affinity_ok(pod, node, placed, namespaces):
                why[AFFINITY_MISMATCH] += 1
            elif not self._anti_affinity_ok(pod, node, placed, namespaces):
                why[ANTI_AFFINITY_MISMATCH] += 1
            elif not self._existing_anti_affinity_ok(pod, node, holders, namespaces):
                why[EXISTING_ANTI_AFFINITY] += 1
            else:
                feasible.append(node)
        if not feasible:
            return None, why
        return min(feasible, key=lambda n: (load[n], self._nodes.index(n))), why

    @staticmethod
    def _term_matches(
        term: JSON, owner: JSON, other: JSON, namespaces: dict[str, dict[str, str]]
    ) -> bool:
        """Does `other` match an affinity term written in `owner`'s spec?"""
        ns_selector = term.get("namespaceSelector")
        other_ns = other["metadata"]["namespace"]
        if ns_selector is not None:
            selector = from_label_selector_object(ns_selector) or ()
            in_scope = other_ns in (term.get("namespaces") or []) or labels_match(
                selector, namespaces.get(other_ns, {})
            )
        else:
            in_scope = other_ns in (term.get("namespaces") or [owner["metadata"]["namespace"]])
        wanted = from_label_selector_object(term.get("labelSelector"))
        return (
            in_scope
            and wanted is not None
            and labels_match(wanted, other["metadata"].get("labels"))
        )

    @staticmethod
    def _topology(node: str, key: str) -> str | None:
        return node_labels(node).get(key)

    def _affinity_ok(
        self, pod: JSON, node: str, placed: list[JSON], namespaces: dict[str, dict[str, str]]
    ) -> bool:
        for term in _required(pod["spec"].get("affinity"), "podAffinity"):
            domain = self._topology(node, term.get("topologyKey", ""))
            if domain is None:
                return False
            matching = [p for p in placed if self._term_matches(term, pod, p, namespaces)]
            if any(
                self._topology(p["spec"]["nodeName"], term["topologyKey"]) == domain
                for p in matching
            ):
                continue
            # the first pod of a group may go anywhere if it matches its own term
            if not matching and self._term_matches(term, pod, pod, namespaces):
                continue
            return False
        return True

    def _anti_affinity_ok(
        self, pod: JSON, node: str, placed: list[JSON], namespaces: dict[str, dict[str, str]]
    ) -> bool:
        for term in _required(pod["spec"].get("affinity"), "podAntiAffinity"):
            domain = self._topology(node, term.get("topologyKey", ""))
            if domain is None:
                continue
            for other in placed:
                if self._topology(
                    other["spec"]["nodeName"], term["topologyKey"]
                ) == domain and self._term_matches(term, pod, other, namespaces):
                    return False
        return True

    def _existing_anti_affinity_ok(
        self, pod: JSON, node: str, placed: list[JSON], namespaces: dict[str, dict[str, str]]
    ) -> bool:
        for other in placed:
            for term in _required(other["spec"].get("affinity"), "podAntiAffinity"):
                domain = self._topology(node, term.get("topologyKey", ""))
                if (
                    domain is not None
                    and self._topology(other["spec"]["nodeName"], term["topologyKey"]) == domain
                    and self._term_matches(term, other, pod, namespaces)
                ):
                    return False
        return True

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
