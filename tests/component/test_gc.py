"""Garbage collection (``tasks.gc``): idle lessons expire, lessons past their deadline fail,
stalled lessons resume (once, however many ticks), and orphan namespaces of this instance go."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobs import StepPayload
from kube import Obj, TransientError
from kube.kinds import NAMESPACE
from lessons.naming import INSTANCE, LESSON_ID, MANAGED
from lessons.state import LessonRecord, LessonState
from lessons.steps import Job, Step
from registry import LessonRegistry, NotStarted, new_lesson_id
from tasks.gc import (
    Collected,
    collect,
    collect_orphans,
    expire_idle,
    fail_overdue,
    resume_stalled,
    sweep_orphans,
    tick,
)
from tasks.provision import run_step
from tasks.runtime import Runtime
from tests.fakes.clock import FakeClock
from tests.fakes.kube import FakeKube
from tests.fakes.producer import Message, RecordingProducer
from tests.support.redis import redis_client

NewLesson = Callable[..., LessonRecord]


# --- expire_idle ----------------------------------------------------------------------------


def test_only_lessons_idle_past_their_ttl_expire_and_a_keepalive_resets_the_clock(
    runtime: Runtime,
    new_lesson: NewLesson,
    registry: LessonRegistry,
    clock: FakeClock,
    producer: RecordingProducer,
) -> None:
    idle, kept = new_lesson(), new_lesson()
    clock.advance(400)
    registry.keepalive(kept.id)
    clock.advance(199)  # 599 s idle: not yet

    assert expire_idle(runtime, clock.now()) == []
    assert producer.sent == []

    clock.advance(1)  # the TTL, 600 s

    assert expire_idle(runtime, clock.now()) == [idle.id]
    assert producer.take() == [Message(Job.TEARDOWN_MANY, {"lesson_ids": [idle.id]}, 0)]
    assert registry.require(idle.id).state is LessonState.TEARING_DOWN
    assert registry.require(kept.id).state is LessonState.QUEUED
    # Once tearing down it is out of the idle index: the next tick does not start it again.
    assert expire_idle(runtime, clock.now()) == []
    clock.advance(400)
    assert expire_idle(runtime, clock.now()) == [kept.id]


def test_ready_and_failed_lessons_expire_too(
    ready_lesson: NewLesson,
    runtime: Runtime,
    new_lesson: NewLesson,
    registry: LessonRegistry,
    clock: FakeClock,
) -> None:
    ready, failed = ready_lesson(), new_lesson()
    registry.fail(failed.id, "pods: boom")
    assert registry.require(ready.id).state is LessonState.READY
    clock.advance(runtime.settings.lesson_ttl)

    assert sorted(expire_idle(runtime, clock.now())) == sorted([ready.id, failed.id])


# --- fail_overdue ---------------------------------------------------------------------------


def test_a_lesson_past_its_deadline_fails_and_is_torn_down(
    runtime: Runtime,
    new_lesson: NewLesson,
    registry: LessonRegistry,
    clock: FakeClock,
    producer: RecordingProducer,
) -> None:
    stuck = new_lesson()
    clock.advance(30)
    later = new_lesson()
    run_step(runtime, Step.NAMESPACE, StepPayload.of(stuck))
    producer.take()
    clock.advance(stuck.deadline - clock.now())

    assert fail_overdue(runtime, clock.now()) == [stuck.id]

    failed = registry.require(stuck.id)
    # FAILED with its reason, then straight on to TEARING_DOWN.
    assert failed.state is LessonState.TEARING_DOWN
    assert failed.error == "provisioning did not finish before its deadline"
    assert producer.take() == [Message(Job.TEARDOWN_MANY, {"lesson_ids": [stuck.id]}, 0)]
    assert registry.require(later.id).state is LessonState.QUEUED
    assert fail_overdue(runtime, clock.now()) == []
    assert producer.sent == []


def test_no_overdue_lessons_send_nothing(
    runtime: Runtime, new_lesson: NewLesson, clock: FakeClock, producer: RecordingProducer
) -> None:
    new_lesson()
    clock.advance(89)

    assert fail_overdue(runtime, clock.now()) == []
    assert producer.sent == []


# --- resume_stalled -------------------------------------------------------------------------


def test_a_stalled_provisioning_lesson_has_its_unfinished_steps_sent_again(
    runtime: Runtime,
    new_lesson: NewLesson,
    registry: LessonRegistry,
    clock: FakeClock,
    producer: RecordingProducer,
) -> None:
    record = new_lesson("snapshot-testing")
    run_step(runtime, Step.NAMESPACE, StepPayload.of(record))
    started = registry.start_step(record.id, Step.NETWORKS)  # a worker died in it
    assert not isinstance(started, NotStarted)
    run_step(runtime, Step.POLICIES, StepPayload.of(record))  # done; pods wait for networks
    producer.take()  # the messages were lost with a Redis restart
    clock.advance(runtime.settings.stall_timeout - 0.5)

    assert resume_stalled(runtime, clock.now()) == []

    clock.advance(0.5)

    assert resume_stalled(runtime, clock.now()) == [record.id]
    fresh = StepPayload.of(record).kwargs()
    assert sorted(producer.take(), key=lambda m: m.task) == [
        Message("lessonq.provision.files", fresh, 3),
        Message("lessonq.provision.networks", fresh, 3),
        Message("lessonq.provision.services", fresh, 3),
    ]


def test_a_stalled_teardown_is_sent_again(
    runtime: Runtime,
    new_lesson: NewLesson,
    registry: LessonRegistry,
    clock: FakeClock,
    producer: RecordingProducer,
) -> None:
    record = new_lesson()
    registry.begin_teardown([record.id])
    clock.advance(runtime.settings.stall_timeout)

    assert resume_stalled(runtime, clock.now()) == [record.id]

    teardown = registry.require(record.id)
    assert producer.take() == [Message(Job.TEARDOWN, StepPayload.of(teardown).kwargs(), 0)]


def test_two_ticks_at_the_same_instant_resume_a_stalled_lesson_once(
    runtime: Runtime, new_lesson: NewLesson, clock: FakeClock, producer: RecordingProducer
) -> None:
    record = new_lesson()
    clock.advance(runtime.settings.stall_timeout)

    first = resume_stalled(runtime, clock.now())
    second = resume_stalled(runtime, clock.now())

    assert (first, second) == ([record.id], [])
    assert [m.task for m in producer.sent] == [Step.NAMESPACE.task_name]
    # Claimed means its heartbeat moved to now: it is resumed again only after another stall.
    clock.advance(runtime.settings.stall_timeout)
    assert resume_stalled(runtime, clock.now()) == [record.id]


def test_a_step_waiting_out_a_long_retry_after_is_not_taken_for_stalled(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    clock: FakeClock,
    producer: RecordingProducer,
) -> None:
    record = new_lesson()
    stall = runtime.settings.stall_timeout
    # The API asks for a pause far longer than the stall timeout.
    kube.fail("create", TransientError("slow down", status=429, retry_after=10 * stall))
    again = run_step(runtime, Step.NAMESPACE, StepPayload.of(record))
    assert again is not None and again.countdown == 10 * stall
    producer.take()

    clock.advance(2 * stall)
    assert resume_stalled(runtime, clock.now()) == []  # it is waiting, as asked
    # Had its task been lost, GC would resume it a stall timeout after it was due.
    clock.advance(9 * stall)
    assert resume_stalled(runtime, clock.now()) == [record.id]
    assert [m.task for m in producer.take()] == [Step.NAMESPACE.task_name]


def test_ready_lessons_are_never_resumed(
    ready_lesson: NewLesson,
    runtime: Runtime,
    clock: FakeClock,
    producer: RecordingProducer,
    registry: LessonRegistry,
) -> None:
    record = ready_lesson()
    assert registry.require(record.id).state is LessonState.READY
    clock.advance(10 * runtime.settings.stall_timeout)

    assert resume_stalled(runtime, clock.now()) == []
    assert producer.sent == []


@pytest.mark.parametrize("disturbance", ["record-evicted", "ready-meanwhile"])
def test_a_claimed_lesson_that_vanished_or_settled_meanwhile_is_not_resumed(
    disturbance: str,
    runtime: Runtime,
    new_lesson: NewLesson,
    clock: FakeClock,
    producer: RecordingProducer,
    registry: LessonRegistry,
    redis_url: str,
) -> None:
    """The claim and the read are two round trips: between them the record may go (evicted)
    or the lesson settle. Arranged directly in Redis, as that race would leave it."""
    record, other = new_lesson(), new_lesson()
    look = redis_client(redis_url)
    if disturbance == "record-evicted":
        look.delete(registry.keys.record(record.id))
    else:
        look.hset(registry.keys.record(record.id), "state", LessonState.READY.value)
    clock.advance(runtime.settings.stall_timeout)

    assert resume_stalled(runtime, clock.now()) == [other.id]
    assert [m.payload.lesson_id for m in producer.sent] == [other.id]


# --- collect --------------------------------------------------------------------------------


@pytest.mark.settings(lesson_ttl=60)
def test_a_gc_tick_expires_fails_and_resumes_in_one_go(
    runtime: Runtime,
    new_lesson: NewLesson,
    registry: LessonRegistry,
    clock: FakeClock,
    producer: RecordingProducer,
) -> None:
    idle, overdue = new_lesson(), new_lesson()
    registry.fail(idle.id, "pods: boom")  # out of the deadline and heartbeat indexes
    clock.advance(40)
    registry.keepalive(overdue.id)  # in use, but stuck provisioning
    clock.advance(49)
    stalled = new_lesson()
    clock.advance(runtime.settings.stall_timeout)
    # 94 s on: `idle` is past its TTL (60 s), `overdue` past its deadline (90 s), `stalled`
    # was quiet for the stall timeout.

    result = collect(runtime, clock.now())

    assert result == Collected(expired=[idle.id], overdue=[overdue.id], resumed=[stalled.id])
    assert producer.sent == [
        Message(Job.TEARDOWN_MANY, {"lesson_ids": [idle.id]}, 0),
        Message(Job.TEARDOWN_MANY, {"lesson_ids": [overdue.id]}, 0),
        Message(Step.NAMESPACE.task_name, StepPayload.of(stalled).kwargs(), 6),
    ]


# --- collect_orphans ------------------------------------------------------------------------


def namespace(name: str, labels: dict[str, str], **metadata: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels, **metadata},
    }


def test_orphan_namespaces_of_this_instance_are_deleted_and_nothing_else(
    runtime: Runtime, new_lesson: NewLesson, kube: FakeKube, registry: LessonRegistry
) -> None:
    ours = {MANAGED: "true", INSTANCE: runtime.settings.instance_id}
    live, tearing, gone = new_lesson(), new_lesson(), new_lesson()
    registry.begin_teardown([tearing.id, gone.id])
    registry.finish_teardown(gone.id)
    kube.put(namespace("of-gone", {**ours, LESSON_ID: gone.id}))
    kube.put(namespace("of-no-record", {**ours, LESSON_ID: new_lesson_id()}))
    kube.put(namespace("of-no-id", ours))
    kube.put(namespace("of-live", {**ours, LESSON_ID: live.id}))
    kube.put(namespace("of-tearing-down", {**ours, LESSON_ID: tearing.id}))
    kube.put(namespace("of-other-instance", {**ours, INSTANCE: "other", LESSON_ID: gone.id}))
    kube.put(namespace("unmanaged", {LESSON_ID: gone.id}))
    kube.put(
        namespace(
            "of-gone-terminating",
            {**ours, LESSON_ID: gone.id},
            deletionTimestamp="2026-01-01T00:00:00Z",
        )
    )

    deleted = collect_orphans(runtime)

    assert sorted(deleted) == ["of-gone", "of-no-id", "of-no-record"]
    deleting = [str(call.name) for call in kube.calls if call.verb == "delete"]
    assert sorted(deleting) == sorted(deleted)
    terminating = {
        name
        for name in kube.names(NAMESPACE)
        if "deletionTimestamp" in (kube.read(NAMESPACE, name) or {})["metadata"]
    }
    assert terminating == {"of-gone", "of-no-id", "of-no-record", "of-gone-terminating"}


def test_an_orphan_sweep_with_nothing_to_collect_deletes_nothing(
    runtime: Runtime, kube: FakeKube
) -> None:
    assert collect_orphans(runtime) == []
    assert kube.verbs() == ["list"]


def test_a_transient_error_of_the_orphan_sweep_is_one_warning_line_and_the_next_tick_tries(
    runtime: Runtime, kube: FakeKube, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="lessonq.gc")
    kube.fail("list", TransientError("the server is busy", status=503))

    with pytest.raises(TransientError, match="busy"):
        collect_orphans(runtime)
    kube.fail("list", TransientError("the server is busy", status=503))
    caplog.clear()
    assert sweep_orphans(runtime) == []

    [line] = caplog.records
    assert (line.levelname, line.name, line.exc_info) == ("WARNING", "lessonq.gc", None)
    assert line.getMessage() == (
        "gc: orphan sweep skipped, the next tick tries again: the server is busy"
    )
    kube.put(namespace("orphan", {MANAGED: "true", INSTANCE: runtime.settings.instance_id}))
    caplog.clear()
    assert sweep_orphans(runtime) == ["orphan"]
    assert [r.getMessage() for r in caplog.records] == ["gc: deleted orphan namespaces ['orphan']"]


def test_a_tick_says_what_it_did_and_is_quiet_when_it_did_nothing(
    runtime: Runtime,
    new_lesson: NewLesson,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="lessonq.gc")
    assert tick(runtime) == Collected(expired=[], overdue=[], resumed=[])
    assert caplog.records == []

    record = new_lesson()
    clock.advance(runtime.settings.lesson_ttl)
    result = tick(runtime)

    assert record.id in result.expired
    assert [r.getMessage() for r in caplog.records] == [
        f"gc: expired {result.expired}, overdue {result.overdue}, resumed {result.resumed}"
    ]
