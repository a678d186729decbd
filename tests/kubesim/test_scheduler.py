"""The scheduler: nodeSelector, required pod affinity and anti-affinity, unschedulable pods."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kubesim import KubeSim
from kubesim.capacity import MAX_PODS
from tests.kubesim.conftest import FAST, api_client, namespace, pod_body, wait_for


def affinity(
    kind: str, labels: dict[str, str], expressions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    selector: dict[str, Any] = {"matchLabels": labels}
    if expressions:
        selector["matchExpressions"] = expressions
    term = {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def node_of(core: client.CoreV1Api, name: str, ns: str = "a") -> str:
    return wait_for(lambda: core.read_namespaced_pod(name, ns).spec.node_name, what=f"{name} bound")


def test_node_selector(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    core.create_namespaced_pod(
        "a", pod_body("p", nodeSelector={"kubernetes.io/hostname": "node-3"})
    )
    assert node_of(core, "p") == "node-3"


def test_affinity_keeps_a_lesson_on_one_node_and_the_first_pod_may_go_anywhere(
    core: client.CoreV1Api,
) -> None:
    namespace(core, "a")
    lesson = {"lesson": "l1"}
    for name in ("vqfx1", "vqfx2", "linux1"):
        core.create_namespaced_pod(
            "a", pod_body(name, labels=lesson, affinity=affinity("podAffinity", lesson))
        )
    assert {node_of(core, n) for n in ("vqfx1", "vqfx2", "linux1")} == {node_of(core, "vqfx1")}


def test_affinity_with_match_expressions(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    core.create_namespaced_pod(
        "a",
        pod_body(
            "anchor", labels={"lesson": "l2"}, nodeSelector={"kubernetes.io/hostname": "node-2"}
        ),
    )
    term = affinity("podAffinity", {}, [{"key": "lesson", "operator": "In", "values": ["l2"]}])
    core.create_namespaced_pod("a", pod_body("follower", affinity=term))
    assert node_of(core, "follower") == "node-2"


def test_anti_affinity_spreads(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    spread = {"app": "spread"}
    for index in range(3):
        core.create_namespaced_pod(
            "a", pod_body(f"s{index}", labels=spread, affinity=affinity("podAntiAffinity", spread))
        )
    assert sorted(node_of(core, f"s{i}") for i in range(3)) == ["node-1", "node-2", "node-3"]


def test_unschedulable_pod_gets_condition_and_event_then_schedules(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    waiting = pod_body("late", affinity=affinity("podAffinity", {"lesson": "absent"}))
    core.create_namespaced_pod("a", waiting)

    def unschedulable() -> dict[str, str] | None:
        conditions = core.read_namespaced_pod("late", "a").status.conditions or []
        found = [c for c in conditions if c.type == "PodScheduled" and c.status == "False"]
        return {"reason": found[0].reason, "message": found[0].message} if found else None

    condition = wait_for(unschedulable, what="Unschedulable")
    assert condition["reason"] == "Unschedulable"
    assert condition["message"].startswith(
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."
    )
    events = core.list_namespaced_event(
        "a", field_selector="involvedObject.name=late,reason=FailedScheduling"
    ).items
    assert (
        events and events[0].type == "Warning" and events[0].source.component == "default-scheduler"
    )
    core.create_namespaced_pod(
        "a",
        pod_body(
            "anchor", labels={"lesson": "absent"}, nodeSelector={"kubernetes.io/hostname": "node-1"}
        ),
    )
    assert node_of(core, "late") == "node-1"


def test_unknown_node_selector_never_schedules(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    core.create_namespaced_pod("a", pod_body("p", nodeSelector={"disk": "ssd"}))
    wait_for(
        lambda: core.list_namespaced_event("a", field_selector="reason=FailedScheduling").items,
        what="FailedScheduling",
    )
    assert core.read_namespaced_pod("p", "a").spec.node_name is None


@pytest.fixture
def one_node() -> Iterator[client.CoreV1Api]:
    with KubeSim(nodes=["node-1"], time_scale=FAST) as sim:
        core = client.CoreV1Api(api_client(sim))
        namespace(core, "a")
        yield core


def fill_the_node(core: client.CoreV1Api, **spec: Any) -> None:
    for index in range(MAX_PODS):
        core.create_namespaced_pod("a", pod_body(f"p{index}", **spec))


def test_finished_pods_hold_no_slot_on_a_node(one_node: client.CoreV1Api) -> None:
    """The scheduler and the kubelet count active pods only: finished ones take no slot."""
    fill_the_node(one_node, restartPolicy="Never")

    def all_succeeded() -> bool:
        phases = [p.status.phase for p in one_node.list_namespaced_pod("a").items]
        return phases == ["Succeeded"] * MAX_PODS

    wait_for(all_succeeded, timeout=30, what="every pod Succeeded")
    one_node.create_namespaced_pod("a", pod_body("next"))
    assert node_of(one_node, "next") == "node-1"
    wait_for(
        lambda: one_node.read_namespaced_pod("next", "a").status.phase == "Running",
        what="admitted by the kubelet",
    )


def test_a_finished_pod_attracts_no_one(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    on_node_2 = {"kubernetes.io/hostname": "node-2"}
    core.create_namespaced_pod(
        "a",
        pod_body("anchor", labels={"lesson": "l1"}, nodeSelector=on_node_2, restartPolicy="Never"),
    )
    wait_for(
        lambda: core.read_namespaced_pod("anchor", "a").status.phase == "Succeeded",
        what="anchor finished",
    )
    core.create_namespaced_pod(
        "a", pod_body("follower", affinity=affinity("podAffinity", {"lesson": "l1"}))
    )
    reasons = wait_for(
        lambda: (
            core.list_namespaced_event(
                "a", field_selector="involvedObject.name=follower,reason=FailedScheduling"
            ).items
        ),
        what="FailedScheduling",
    )
    assert "3 node(s) didn't match pod affinity rules" in reasons[0].message
    assert core.read_namespaced_pod("follower", "a").spec.node_name is None


def test_affinity_counts_pods_matching_all_terms_and_the_first_of_a_group_needs_none(
    core: client.CoreV1Api,
) -> None:
    """satisfyPodAffinity: only pods matching every term count; with none anywhere, a pod that
    matches all its own terms may go anywhere (here the least loaded node)."""
    namespace(core, "a")
    hostname = "kubernetes.io/hostname"
    core.create_namespaced_pod(
        "a", pod_body("web", labels={"app": "a"}, nodeSelector={hostname: "node-2"})
    )
    assert node_of(core, "web") == "node-2"
    terms = [
        {"labelSelector": {"matchLabels": {"app": "a"}}, "topologyKey": hostname},
        {"labelSelector": {"matchLabels": {"tier": "db"}}, "topologyKey": hostname},
    ]
    both = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}}
    core.create_namespaced_pod(
        "a", pod_body("db", labels={"app": "a", "tier": "db"}, affinity=both)
    )
    assert node_of(core, "db") == "node-1"
    core.create_namespaced_pod("a", pod_body("client", affinity=both))
    assert node_of(core, "client") == "node-1"


def test_node_affinity_is_checked_before_the_pod_count(one_node: client.CoreV1Api) -> None:
    """The scheduler's filters run in plugin order: NodeAffinity before NodeResourcesFit."""
    fill_the_node(one_node, nodeName="node-1")
    one_node.create_namespaced_pod("a", pod_body("ssd", nodeSelector={"disk": "ssd"}))
    events = wait_for(
        lambda: one_node.list_namespaced_event("a", field_selector="reason=FailedScheduling").items,
        what="FailedScheduling",
    )
    assert events[0].message.startswith(
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    )


def test_binding_leaves_the_generation_alone(core: client.CoreV1Api) -> None:
    """The binding subresource sets spec.nodeName; generation moves only with spec updates."""
    namespace(core, "a")
    core.create_namespaced_pod("a", pod_body("p"))
    node_of(core, "p")
    assert core.read_namespaced_pod("p", "a").metadata.generation == 1
    patched = core.patch_namespaced_pod("p", "a", {"spec": {"activeDeadlineSeconds": 600}})
    assert patched.metadata.generation == 2


# InterPodAffinity's scoring of preferred terms

HOSTNAME = "kubernetes.io/hostname"


def preferred(kind: str, labels: dict[str, str], weight: int = 100) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": HOSTNAME}
    return {
        kind: {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": weight, "podAffinityTerm": term}
            ]
        }
    }


def lesson_pod(name: str, lesson: str, **spec: Any) -> dict[str, Any]:
    """A lesson's pod as lessonq makes them: it prefers its lesson's node."""
    labels = {"lessonq.io/instance": "i1", "lessonq.io/id": lesson}
    return pod_body(name, labels=labels, affinity=preferred("podAffinity", labels), **spec)


def test_preferred_affinity_keeps_each_lesson_on_one_node(core: client.CoreV1Api) -> None:
    """Least loaded alone would spread both lessons over the three nodes."""
    namespace(core, "a")
    for lesson in ("l1", "l2"):
        for index in range(4):
            core.create_namespaced_pod("a", lesson_pod(f"{lesson}-{index}", lesson))
    assert {node_of(core, f"l1-{i}") for i in range(4)} == {"node-1"}
    # the second lesson starts on the least loaded node, and stays there
    assert {node_of(core, f"l2-{i}") for i in range(4)} == {"node-2"}


def test_a_lesson_spills_to_one_other_node_when_its_node_is_full() -> None:
    with KubeSim(time_scale=FAST, allocatable="cpu:2") as sim:
        core = client.CoreV1Api(api_client(sim))
        namespace(core, "a")
        requests = {"resources": {"requests": {"cpu": "600m"}}}  # three fit on a node
        for index in range(5):
            core.create_namespaced_pod("a", lesson_pod(f"p{index}", "l1", container=requests))
        nodes = [node_of(core, f"p{i}") for i in range(5)]
        # the fifth goes where the fourth went (its lesson is there), not to the emptier node-3
        assert nodes == ["node-1"] * 3 + ["node-2"] * 2


def test_preferred_anti_affinity_outweighs_the_load() -> None:
    with KubeSim(nodes=["node-1", "node-2"], time_scale=FAST) as sim:
        core = client.CoreV1Api(api_client(sim))
        namespace(core, "a")
        for name, node, labels in (
            ("filler-1", "node-1", {}),
            ("filler-2", "node-1", {}),
            ("db", "node-2", {"app": "db"}),
        ):
            core.create_namespaced_pod(
                "a", pod_body(name, labels=labels, nodeSelector={HOSTNAME: node})
            )
            node_of(core, name)
        core.create_namespaced_pod(
            "a", pod_body("web", affinity=preferred("podAntiAffinity", {"app": "db"}))
        )
        assert node_of(core, "web") == "node-1"
        # a preference only: with room nowhere else it goes next to what it avoids
        core.create_namespaced_pod(
            "a",
            pod_body(
                "web-2",
                affinity={
                    **preferred("podAntiAffinity", {"app": "db"}),
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": HOSTNAME, "operator": "In", "values": ["node-2"]}
                                    ]
                                }
                            ]
                        }
                    },
                },
            ),
        )
        assert node_of(core, "web-2") == "node-2"


def test_weights_add_up_per_matching_pod_and_anti_affinity_subtracts(
    core: client.CoreV1Api,
) -> None:
    namespace(core, "a")
    for name, node, labels in (
        ("a1", "node-1", {"app": "a"}),
        ("b1", "node-2", {"app": "b"}),
        ("b2", "node-2", {"app": "b"}),
        ("c1", "node-3", {"app": "c"}),
    ):
        core.create_namespaced_pod(
            "a", pod_body(name, labels=labels, nodeSelector={HOSTNAME: node})
        )
        node_of(core, name)
    terms = [
        {
            "weight": weight,
            "podAffinityTerm": {
                "labelSelector": {"matchLabels": {"app": app}},
                "topologyKey": HOSTNAME,
            },
        }
        for app, weight in (("a", 50), ("b", 30))
    ]
    # node-1 scores 50, node-2 30 + 30 = 60
    affinity_terms = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}
    core.create_namespaced_pod("a", pod_body("two-b", affinity=affinity_terms))
    assert node_of(core, "two-b") == "node-2"
    # node-2 now scores 60 - 100: node-1 wins
    both = {**affinity_terms, **preferred("podAntiAffinity", {"app": "b"})}
    core.create_namespaced_pod("a", pod_body("no-b", affinity=both))
    assert node_of(core, "no-b") == "node-1"


def test_bound_pods_preferences_score_the_incoming_pod() -> None:
    """The symmetric part: an existing pod's preferred (anti-)affinity terms that match the
    incoming pod draw it to (push it from) the existing pod's node."""
    with KubeSim(nodes=["node-1", "node-2", "node-3"], time_scale=FAST) as sim:
        core = client.CoreV1Api(api_client(sim))
        namespace(core, "a")
        core.create_namespaced_pod(
            "a",
            pod_body(
                "cache",
                nodeSelector={HOSTNAME: "node-3"},
                affinity=preferred("podAffinity", {"app": "web"}),
            ),
        )
        core.create_namespaced_pod(
            "a",
            pod_body(
                "loner",
                nodeSelector={HOSTNAME: "node-1"},
                affinity=preferred("podAntiAffinity", {"app": "api"}),
            ),
        )
        node_of(core, "cache")
        node_of(core, "loner")
        core.create_namespaced_pod("a", pod_body("web", labels={"app": "web"}))
        assert node_of(core, "web") == "node-3"  # not node-2, the least loaded
        core.create_namespaced_pod("a", pod_body("api", labels={"app": "api"}))
        assert node_of(core, "api") == "node-2"  # least loaded, and not node-1
        # a deleted pod scores no more
        core.delete_namespaced_pod("cache", "a", grace_period_seconds=0)
        wait_for(
            lambda: "cache" not in {p.metadata.name for p in core.list_namespaced_pod("a").items},
            what="cache gone",
        )
        core.create_namespaced_pod("a", pod_body("web-2", labels={"app": "web"}))
        # one pod on each node: the first; with cache still there, node-3
        assert node_of(core, "web-2") == "node-1"
