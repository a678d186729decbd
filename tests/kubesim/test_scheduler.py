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
