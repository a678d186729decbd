"""Placement that cannot stall: the readiness step places a lesson stranded on a node too small
for it again, a bounded number of times, and fails one that no node could hold at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kube import PermanentError, WatchEvent
from kube.kinds import NODE, POD
from lessons.manifests import HOSTNAME
from lessons.state import LessonRecord
from lessons.steps import Step
from registry import LessonRegistry
from tasks.steps import Again, StepContext, readiness
from tests.fakes.kube import FakeKube

NewLesson = Callable[..., LessonRecord]
Context = Callable[..., StepContext]


def node(name: str, cpu: str = "8", memory: str = "32Gi", pods: int = 110, **spec: Any) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": spec,
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": str(pods)}},
    }


UNSCHEDULABLE = {
    "phase": "Pending",
    "conditions": [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 1 Too many pods, 2 node(s) didn't match pod "
            "affinity rules.",
        }
    ],
}


def strand(kube: FakeKube, record: LessonRecord, on: str) -> list[str]:
    """The lesson's first pod bound to `on`, the others Unschedulable; the pods' names."""
    pods = kube.names(POD, record.namespace)
    for index, name in enumerate(pods):
        pod = kube.objects[(POD.kind, record.namespace, name)]
        if index == 0:
            pod["spec"]["nodeName"] = on
            kube.set_pod_status(record.namespace, name, {"phase": "Running"})
        else:
            kube.set_pod_status(record.namespace, name, UNSCHEDULABLE)
    return pods


@pytest.fixture
def nodes(kube: FakeKube) -> None:
    for name in ("node-1", "node-2", "node-3"):
        kube.put(node(name))
    # Cordoned, and a control-plane node: neither takes lesson pods.
    kube.put(node("node-4", cpu="64", unschedulable=True))
    kube.put(node("control", cpu="64", taints=[{"key": "control-plane", "effect": "NoSchedule"}]))


def test_a_lesson_stranded_on_a_full_node_is_placed_again_away_from_it(
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
    nodes: None,
) -> None:
    record = in_cluster("snapshot-testing")
    names = strand(kube, record, "node-1")

    # Placed again at once: with the queue idle, a pod already Unschedulable is not watched.
    assert readiness(step_context(record, Step.READINESS, polls=3)) == Again(0, polls=0)
    assert "watch" not in kube.verbs()
    assert kube.names(POD, record.namespace) == []
    assert registry.require(record.id).avoided_nodes == ["node-1"]

    # The next look makes the pods anew, none of them on node-1.
    assert readiness(step_context(record, Step.READINESS)) == Again(0, polls=0)
    assert kube.names(POD, record.namespace) == names
    for name in names:
        pod = kube.objects[(POD.kind, record.namespace, name)]
        [term] = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"]
        assert term == {
            "matchExpressions": [{"key": HOSTNAME, "operator": "NotIn", "values": ["node-1"]}]
        }
        assert "podAffinity" in pod["spec"]["affinity"]


@pytest.mark.settings(placement_attempts=2)
def test_a_lesson_placed_again_as_often_as_allowed_fails_naming_the_nodes_it_tried(
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
    nodes: None,
) -> None:
    record = in_cluster("snapshot-testing")
    for tried in ("node-1", "node-2"):
        strand(kube, record, tried)
        readiness(step_context(record, Step.READINESS))  # deletes the pods
        readiness(step_context(record, Step.READINESS))  # makes them anew
    strand(kube, record, "node-3")

    with pytest.raises(PermanentError) as failed:
        readiness(step_context(record, Step.READINESS))

    assert failed.value.reason == "placement"
    message = failed.value.message
    assert message.startswith("no node could hold the lesson's 4 pods (cpu ")
    assert "placed on node-1, node-2, node-3 in turn; 0/3 nodes are available: 1 Too many" in (
        message
    )
    assert len(kube.names(POD, record.namespace)) == 4


def test_a_lesson_bigger_than_any_node_fails_at_once(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    for name in ("node-1", "node-2"):
        kube.put(node(name, pods=2))
    record = in_cluster("snapshot-testing")
    for name in kube.names(POD, record.namespace):
        kube.set_pod_status(record.namespace, name, UNSCHEDULABLE)

    with pytest.raises(PermanentError) as failed:
        readiness(step_context(record, Step.READINESS))

    assert failed.value.message.startswith("no node could hold the lesson's 4 pods (cpu ")
    assert failed.value.message.endswith(
        "the largest of 2 nodes allocates cpu 8, memory 32Gi, 2 pods"
    )


def test_pods_waiting_for_room_on_busy_nodes_are_waited_for(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube, nodes: None
) -> None:
    record = in_cluster("snapshot-testing")
    for name in kube.names(POD, record.namespace):
        kube.set_pod_status(record.namespace, name, UNSCHEDULABLE)

    again = readiness(step_context(record, Step.READINESS, polls=1))

    assert isinstance(again, Again) and again.polls == 2
    assert len(kube.names(POD, record.namespace)) == 4
    assert [c.verb for c in kube.calls if c.kind == NODE.kind] == ["list"]


def test_a_pod_turning_unschedulable_ends_the_watch_and_the_lesson_is_placed_again_at_once(
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
    nodes: None,
) -> None:
    record = in_cluster("snapshot-testing")
    first, second, *_ = kube.names(POD, record.namespace)
    pod = kube.objects[(POD.kind, record.namespace, first)]
    pod["spec"]["nodeName"] = "node-1"
    taken: list[str] = []

    def events() -> Iterator[WatchEvent]:
        taken.append("unschedulable")
        yield WatchEvent("MODIFIED", kube.set_pod_status(record.namespace, second, UNSCHEDULABLE))
        taken.append("more")
        yield WatchEvent("MODIFIED", kube.set_pod_status(record.namespace, second, UNSCHEDULABLE))

    kube.watch_events = events

    assert readiness(step_context(record, Step.READINESS)) == Again(0, polls=0)
    assert taken == ["unschedulable"]
    assert registry.require(record.id).avoided_nodes == ["node-1"]
