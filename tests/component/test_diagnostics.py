"""A failed lesson keeps what its pods said (``tasks.diagnostics``): the pods that were not
ready, their last Events and the tail of their logs, bounded, in its record."""

from __future__ import annotations

from collections.abc import Callable

from jobs import StepPayload
from kube import Obj, PermanentError
from kube.kinds import POD
from lessons.state import LessonRecord, LessonState
from lessons.steps import Step
from registry import LessonRegistry
from tasks.diagnostics import EVENT_CHARS, MAX_EVENTS, MAX_PODS, diagnose
from tasks.provision import run_step
from tasks.runtime import Runtime
from tests.fakes.clock import FakeClock
from tests.fakes.kube import READY_STATUS, FakeKube

NewLesson = Callable[..., LessonRecord]


def event(namespace: str, pod: str, n: int, message: str = "") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.{n}", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace},
        "type": "Warning",
        "reason": "BackOff",
        "message": message or f"event {n}",
        "lastTimestamp": f"2026-01-01T00:00:{n:02d}Z",
    }


def crashing(restarts: int = 3) -> Obj:
    return {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {
                "name": "c",
                "restartCount": restarts,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
            }
        ],
    }


def test_a_lesson_failing_at_its_deadline_keeps_what_its_pods_said(
    in_cluster: NewLesson,
    runtime: Runtime,
    kube: FakeKube,
    clock: FakeClock,
    registry: LessonRegistry,
) -> None:
    record = in_cluster("snapshot-testing")
    ns = record.namespace
    kube.set_pod_status(ns, "linux1", READY_STATUS)
    kube.set_pod_status(ns, "vqfx1", crashing())
    kube.logs[(ns, "vqfx1")] = "".join(f"boot line {n}\n" for n in range(30))
    for n in range(MAX_EVENTS + 3):
        kube.put(event(ns, "vqfx1", n))
    kube.put(event(ns, "vqfx2", 0, "x" * (EVENT_CHARS * 2)))
    kube.put(event(ns, "linux1", 0, "not a pod in trouble"))
    clock.advance(record.deadline - clock.now())

    assert run_step(runtime, Step.READINESS, StepPayload.of(record)) is None

    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED and failed.diagnostics is not None
    by_pod = {pod.pod: pod for pod in failed.diagnostics.pods}
    assert sorted(by_pod) == ["vqfx1", "vqfx2", "vqfx3"]  # linux1 was ready
    vqfx1 = by_pod["vqfx1"]
    assert vqfx1.waiting == "CrashLoopBackOff" and vqfx1.phase == "Running"
    assert vqfx1.events == [f"Warning BackOff: event {n}" for n in range(3, MAX_EVENTS + 3)]
    assert vqfx1.log is not None and vqfx1.log.splitlines()[-1] == "boot line 29"
    assert len(vqfx1.log.splitlines()) == 10
    # A pod that never started has no log to read; a long event is cut.
    assert by_pod["vqfx2"].log is None and by_pod["vqfx2"].phase == "Pending"
    assert len(by_pod["vqfx2"].events[0]) == EVENT_CHARS
    assert failed.diagnostics.note is None
    # Gone with the namespace from the cluster, kept in the record.
    assert kube.verbs().count("log") == 1


def test_a_failure_of_the_namespace_step_diagnoses_nothing(
    new_lesson: NewLesson, runtime: Runtime, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = new_lesson()
    kube.fail("create", PermanentError("forbidden", status=403, reason="Forbidden"))

    run_step(runtime, Step.NAMESPACE, StepPayload.of(record))

    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED and failed.diagnostics is None
    assert "list" not in kube.verbs()


def test_what_cannot_be_read_is_a_note_never_a_second_failure(
    in_cluster: NewLesson,
    runtime: Runtime,
    kube: FakeKube,
    clock: FakeClock,
    registry: LessonRegistry,
) -> None:
    record = in_cluster("linux-basics")
    clock.advance(record.deadline - clock.now())
    kube.fail("list", PermanentError("pods is forbidden", status=403, reason="Forbidden"))
    kube.fail("list", PermanentError("pods is forbidden", status=403, reason="Forbidden"))

    run_step(runtime, Step.READINESS, StepPayload.of(record))

    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED and failed.diagnostics is not None
    assert failed.diagnostics.pods == []
    assert (
        failed.diagnostics.note == "the pods or their Events could not be read: pods is forbidden"
    )


def test_a_pod_the_collector_cannot_make_sense_of_is_a_note_too(
    in_cluster: NewLesson,
    runtime: Runtime,
    kube: FakeKube,
    clock: FakeClock,
    registry: LessonRegistry,
) -> None:
    record = in_cluster("linux-basics")
    kube.set_pod_status(record.namespace, "linux1", {"containerStatuses": "not a list"})
    kube.fail("log", PermanentError("container is waiting", status=400, reason="BadRequest"))
    clock.advance(record.deadline - clock.now())

    run_step(runtime, Step.READINESS, StepPayload.of(record))

    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED and failed.diagnostics is not None
    assert failed.diagnostics.note is not None
    assert failed.diagnostics.note.startswith("the diagnostics could not be collected: ")


def test_many_pods_in_trouble_are_cut_to_a_few_and_a_log_that_cannot_be_read_says_so(
    in_cluster: NewLesson, kube: FakeKube
) -> None:
    record = in_cluster("snapshot-testing")
    for n in range(MAX_PODS):
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"extra{n}", "namespace": record.namespace},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            }
        )
    kube.set_pod_status(record.namespace, "extra0", crashing())
    kube.fail("log", PermanentError("container is waiting", status=400, reason="BadRequest"))

    found = diagnose(kube, record.namespace)

    # The lesson's 4 pods (booting) and the extra ones: all in trouble, a few of them kept.
    assert len(kube.listing(POD, record.namespace, "").items) == 4 + MAX_PODS
    assert len(found.pods) == MAX_PODS and found.note == "4 more pods left out"
    [extra0] = [pod for pod in found.pods if pod.pod == "extra0"]
    assert extra0.log == "(its log could not be read: container is waiting)"
