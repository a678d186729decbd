"""Binds pods to nodes: nodeSelector, required node affinity, resource requests against the nodes'
allocatable, required pod (anti-)affinity; among the nodes that fit, InterPodAffinity's score of
preferred pod (anti-)affinity picks."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubesim.api import Api, type_key
from kubesim.capacity import DEFAULT_ALLOCATABLE, amounts, insufficient, pod_requests
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
# InterPodAffinityArgs.hardPodAffinityWeight's default: what an existing pod's required affinity
# term matching the incoming pod adds to its domain's score
HARD_POD_AFFINITY_WEIGHT = 1


def insufficient_reason(resource: str) -> str:
    """NodeResourcesFit's reason for a resource a node lacks."""
    return TOO_MANY_PODS if resource == "pods" else f"Insufficient {resource}"


def node_labels(name: str) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
    }


def _required(affinity: JSON | None, kind: str) -> list[JSON]:
    terms = ((affinity or {}).get(kind) or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    return list(terms or [])


def _preferred(affinity: JSON | None, kind: str) -> list[JSON]:
    terms = ((affinity or {}).get(kind) or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    )
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

    def in_scope(self, namespace: str, namespaces: dict[str, dict[str, str]]) -> bool:
        return namespace in self.namespaces or (
            self.namespace_selector is not None
            and labels_match(self.namespace_selector, namespaces.get(namespace, {}))
        )

    def matches(self, other: JSON, namespaces: dict[str, dict[str, str]]) -> bool:
        """Does `other` match this term?"""
        return (
            self.in_scope(other["metadata"]["namespace"], namespaces)
            and self.selector is not None
            and labels_match(self.selector, other["metadata"].get("labels"))
        )


Pair = tuple[str, str | None]  # (topology key, a node's value for it)


@dataclass(frozen=True)
class Weighted:
    """A pod (anti-)affinity term with what a pod matching it adds to its domain's score
    (negative for anti-affinity)."""

    term: Term
    weight: int


def preferred_terms(pod: JSON) -> list[Weighted]:
    """The pod's preferred affinity terms (their weights) and anti-affinity terms (minus them)."""
    affinity = pod["spec"].get("affinity")
    return [
        Weighted(Term.of(weighted.get("podAffinityTerm") or {}, pod), sign * weighted["weight"])
        for kind, sign in (("podAffinity", 1), ("podAntiAffinity", -1))
        for weighted in _preferred(affinity, kind)
        if isinstance(weighted.get("weight"), int)
    ]


def symmetric_terms(pod: JSON) -> list[Weighted]:
    """What a bound pod's own terms make of an incoming pod they match (processExistingPod):
    its required affinity terms score hardPodAffinityWeight, its preferred ones their weights."""
    required = _required(pod["spec"].get("affinity"), "podAffinity")
    hard = [Weighted(Term.of(t, pod), HARD_POD_AFFINITY_WEIGHT) for t in required]
    return hard + preferred_terms(pod)


class Scheduler:
    def __init__(
        self,
        api: Api,
        events: EventRecorder,
        nodes: list[str],
        allocatable: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        """`allocatable`: each node's, in `capacity.amounts` units (the defaults if absent)."""
        self._api = api
        self._events = events
        self._nodes = nodes
        self._node_labels = {node: node_labels(node) for node in nodes}
        default = amounts(DEFAULT_ALLOCATABLE)
        self._allocatable = {node: (allocatable or {}).get(node, default) for node in nodes}
        self._unschedulable: set[tuple[str, str]] = set()
        # Kept from the change stream, so a decision reads neither the store nor every pod:
        # bound unfinished pods per namespace, the load of each node and the sum of its pods'
        # requests (with each bound pod's requests), the bound pods with required
        # anti-affinity, and the namespaces' labels (for namespaceSelector).
        self._placed: dict[str, dict[str, JSON]] = {}
        self._load: Counter[str] = Counter()
        self._requested: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._requests: dict[tuple[str, str], dict[str, int]] = {}
        self._holders: dict[tuple[str, str], JSON] = {}
        self._namespaces: dict[str, dict[str, str]] = {}
        # bound pods whose affinity scores others (symmetric_terms, parsed once per pod) with
        # their node, and which of them may score a pod of a namespace (None: any namespace,
        # through a namespaceSelector)
        self._scorers: dict[tuple[str, str], tuple[str, str, list[Weighted]]] = {}
        self._scorers_in: defaultdict[str | None, set[tuple[str, str]]] = defaultdict(set)

    def clear(self) -> None:
        self._unschedulable.clear()
        self._placed.clear()
        self._load.clear()
        self._requested.clear()
        self._requests.clear()
        self._holders.clear()
        self._namespaces.clear()
        self._scorers.clear()
        self._scorers_in.clear()

    def _track(self, key: tuple[str, str], pod: JSON | None) -> None:
        """Record a bound pod (or its removal, with None)."""
        namespace, name = key
        in_namespace = self._placed.setdefault(namespace, {})
        previous = in_namespace.pop(name, None)
        self._holders.pop(key, None)
        scorer = self._untrack_scorer(key)
        requests = self._requests.pop(key, None)
        if previous is not None:
            self._load[previous["spec"]["nodeName"]] -= 1
            self._requested[previous["spec"]["nodeName"]].subtract(requests or {})
        if pod is None:
            if not in_namespace:
                del self._placed[namespace]
            return
        in_namespace[name] = pod
        if (
            requests is None
            or previous is None
            or previous["metadata"]["uid"] != pod["metadata"]["uid"]
        ):
            requests = pod_requests(pod["spec"])  # once per pod: its requests do not change
        self._requests[key] = requests
        self._load[pod["spec"]["nodeName"]] += 1
        self._requested[pod["spec"]["nodeName"]].update(requests)
        if _required(pod["spec"].get("affinity"), "podAntiAffinity"):
            self._holders[key] = pod
        uid = pod["metadata"]["uid"]
        # parsed once per pod: its affinity does not change
        terms = scorer[2] if scorer is not None and scorer[1] == uid else symmetric_terms(pod)
        if terms:
            self._scorers[key] = (pod["spec"]["nodeName"], uid, terms)
            for scope in self._scopes(terms):
                self._scorers_in[scope].add(key)

    @staticmethod
    def _scopes(terms: list[Weighted]) -> set[str | None]:
        scopes: set[str | None] = set()
        for weighted in terms:
            scopes.update(weighted.term.namespaces)
            if weighted.term.namespace_selector is not None:
                scopes.add(None)
        return scopes

    def _untrack_scorer(self, key: tuple[str, str]) -> tuple[str, str, list[Weighted]] | None:
        scorer = self._scorers.pop(key, None)
        if scorer is not None:
            for scope in self._scopes(scorer[2]):
                keys = self._scorers_in[scope]
                keys.discard(key)
                if not keys:
                    del self._scorers_in[scope]
        return scorer

    def on_change(self, change: Change) -> None:
        if change.type_key == type_key(NAMESPACES):
            name = change.obj["metadata"]["name"]
            if change.type == "DELETED":
                self._namespaces.pop(name, None)
            else:
                self._namespaces[name] = change.obj["metadata"].get("labels") or {}
            return
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
        pod = self._api.store.get(type_key(PODS), *key)
        if pod is None or pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            self._unschedulable.discard(key)
            return
        node, why = self._choose(pod)
        if node is None:
            self._unschedulable.add(key)
            self._mark_unschedulable(pod, why)
            return
        self._unschedulable.discard(key)
        self._bind(pod, node)

    def _in_scope(self, term: Term) -> Iterator[JSON]:
        """The bound pods in the namespaces a term looks at."""
        names = set(term.namespaces)
        if term.namespace_selector is not None:
            names.update(ns for ns in self._namespaces if term.in_scope(ns, self._namespaces))
        for namespace in names:
            yield from self._placed.get(namespace, {}).values()

    def _pair(self, node: str, topology_key: str) -> Pair:
        # a pod bound past the scheduler to a node that does not exist is in no domain
        return topology_key, self._node_labels.get(node, {}).get(topology_key)

    def _scores(self, pod: JSON) -> Counter[Pair]:
        """InterPodAffinity's PreScore: per topology pair, the weights of the pod's preferred
        affinity terms each bound pod there matches, minus those of its anti-affinity terms;
        and symmetrically what the bound pods' own terms (required affinity, preferred affinity
        and anti-affinity) make of this pod. A node scores its pairs' sum."""
        scores: Counter[Pair] = Counter()
        namespaces = self._namespaces
        for weighted in preferred_terms(pod):
            term = weighted.term
            for other in self._in_scope(term):
                pair = self._pair(other["spec"]["nodeName"], term.topology_key)
                if pair[1] is not None and term.matches(other, namespaces):
                    scores[pair] += weighted.weight
        keys = self._scorers_in.get(pod["metadata"]["namespace"], set()) | self._scorers_in.get(
            None, set()
        )
        for key in keys:
            node, _, terms = self._scorers[key]
            for weighted in terms:
                pair = self._pair(node, weighted.term.topology_key)
                if pair[1] is not None and weighted.term.matches(pod, namespaces):
                    scores[pair] += weighted.weight
        return scores

    def _choose(self, pod: JSON) -> tuple[str | None, Counter[str]]:
        """The scheduler's filters per node, in its plugin order (NodeAffinity, NodeResourcesFit,
        InterPodAffinity); of the nodes that pass, the best InterPodAffinity score wins, then the
        least loaded node, then the first configured. (The real scheduler normalises that score
        and adds the other score plugins'; here preferred affinity comes first.)"""
        why: Counter[str] = Counter()
        affinity = [Term.of(t, pod) for t in _required(pod["spec"].get("affinity"), "podAffinity")]
        anti = [Term.of(t, pod) for t in _required(pod["spec"].get("affinity"), "podAntiAffinity")]
        namespaces = self._namespaces
        requests = pod_requests(pod["spec"])
        # InterPodAffinity's PreFilter: topology pairs holding pods that match all affinity terms,
        # pairs holding a pod that some anti-affinity term matches, and pairs a bound pod's
        # anti-affinity keeps this pod out of; worked out once per pod, not once per node.
        attracting: set[Pair] = set()
        if affinity:
            for other in self._in_scope(affinity[0]):
                if all(t.matches(other, namespaces) for t in affinity):
                    attracting.update(
                        self._pair(other["spec"]["nodeName"], t.topology_key) for t in affinity
                    )
        first_of_group = not attracting and all(t.matches(pod, namespaces) for t in affinity)
        shunned = {
            pair
            for term in anti
            for other in self._in_scope(term)
            if term.matches(other, namespaces)
            # a node without the topology key is in no domain: nothing keeps a pod from it
            and (pair := self._pair(other["spec"]["nodeName"], term.topology_key))[1] is not None
        }
        refused = {
            self._pair(other["spec"]["nodeName"], term.topology_key)
            for other in self._holders.values()
            for term in (
                Term.of(t, other)
                for t in _required(other["spec"].get("affinity"), "podAntiAffinity")
            )
            if term.matches(pod, namespaces)
        }
        feasible = []
        for node in self._nodes:
            pairs = [self._pair(node, t.topology_key) for t in affinity]
            if not _node_affinity_ok(pod, self._node_labels[node]):
                why[NODE_SELECTOR_MISMATCH] += 1
            elif missing := insufficient(
                self._allocatable[node], self._requested[node], self._load[node], requests
            ):
                # NodeResourcesFit reports every resource the node lacks
                why.update(insufficient_reason(resource) for resource, *_ in missing)
            elif any(domain is None for _, domain in pairs) or not (
                all(pair in attracting for pair in pairs) or first_of_group
            ):
                why[AFFINITY_MISMATCH] += 1
            elif any(self._pair(node, t.topology_key) in shunned for t in anti):
                why[ANTI_AFFINITY_MISMATCH] += 1
            elif any(pair in refused for pair in self._node_labels[node].items()):
                why[EXISTING_ANTI_AFFINITY] += 1
            else:
                feasible.append(node)
        if not feasible:
            return None, why
        scores = self._scores(pod) if len(feasible) > 1 else Counter[Pair]()

        def rank(node: str) -> tuple[int, int, int]:
            score = sum(scores.get(pair, 0) for pair in self._node_labels[node].items())
            return -score, self._load[node], self._nodes.index(node)

        return min(feasible, key=rank), why

    def _mark_unschedulable(self, pod: JSON, why: Counter[str]) -> None:
        # FitError's histogram: "<count> <reason>" texts, sorted as texts (sort.Strings)
        reasons = ", ".join(sorted(f"{count} {text}" for text, count in why.items()))
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
        """The binding subresource: refused (a no-op here) if the pod was bound or replaced."""
        meta = pod["metadata"]
        done: list[JSON] = []

        def change(obj: JSON) -> None:
            if obj["metadata"]["uid"] == meta["uid"] and not obj["spec"].get("nodeName"):
                obj["spec"]["nodeName"] = node
                set_condition(obj, {"type": "PodScheduled", "status": "True"})
                done.append(obj)

        bound = self._api.mutate(PODS, meta["namespace"], meta["name"], change)
        if bound is not None and done:
            # known before the binding comes back through the change stream
            self._track((meta["namespace"], meta["name"]), bound)
            self._events.record(
                pod,
                "Normal",
                "Scheduled",
                f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                COMPONENT,
            )
