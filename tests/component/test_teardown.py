"""Teardown (``tasks.teardown``): delete the lesson's namespace by its recorded uid (or after
reading it), look again until it is gone, retry errors, report an overdue teardown and leave it
to GC, and fan a batch of teardowns out."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobs import StepPayload
from kube import Obj, PermanentError, TransientError
from kube.kinds import NAMESPACE
from lessons.naming import LESSON_ID
from lessons.state import LessonRecord, LessonState
from lessons.steps import Job, Step
from registry import LessonRegistry, new_lesson_id
from tasks.gc import resume_stalled
from tasks.outcomes import TEARDOWN_STEP, Outcome
from tasks.provision import run_step
from tasks.running import RunAgain
from tasks.runtime import Runtime
from tasks.teardown import fan_out, run_teardown
from tests.fakes.clock import FakeClock
from tests.fakes.kube import FakeKube
from tests.fakes.observer import Recorder
from tests.fakes.producer import Message, RecordingProducer
from tests.support.redis import heartbeat

NewLesson = Callable[..., LessonRecord]


@pytest.fixture
def claimed(
    runtime: Runtime, new_lesson: NewLesson, producer: RecordingProducer, events: Recorder
) -> Callable[..., LessonRecord]:
    """A lesson whose namespace step ran (its uid recorded), now tearing down."""

    def make(slug: str = "linux-basics") -> LessonRecord:
        record = new_lesson(slug)
        assert run_step(runtime, Step.NAMESPACE, StepPayload.of(record)) is None
        assert runtime.registry.begin_teardown([record.id]) == [record.id]
        producer.take()
        events.events.clear()
        return runtime.registry.require(record.id)

    return make


def namespace(kube: FakeKube, name: str) -> Obj:
    found = kube.read(NAMESPACE, name)
    assert found is not None
    return found


def test_a_lesson_not_tearing_down_is_left_alone(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
) -> None:
    record = new_lesson()

    assert run_teardown(runtime, StepPayload.of(record)) is None

    assert registry.require(record.id).state is LessonState.QUEUED
    assert kube.calls == [] and events.events == []


def test_a_lesson_without_a_record_is_left_alone(
    runtime: Runtime, new_lesson: NewLesson, kube: FakeKube, events: Recorder
) -> None:
    payload = StepPayload.of(new_lesson()).model_copy(update={"lesson_id": new_lesson_id()})

    assert run_teardown(runtime, payload) is None

    assert kube.calls == [] and events.events == []


def test_the_namespace_is_deleted_by_its_uid_then_looked_at_until_it_is_gone(
    runtime: Runtime,
    claimed: Callable[..., LessonRecord],
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
    clock: FakeClock,
    redis_url: str,
) -> None:
    record = claimed()
    assert record.namespace_uid == namespace(kube, record.namespace)["metadata"]["uid"]
    kube.calls.clear()

    first = run_teardown(runtime, StepPayload.of(record))

    # One DELETE, by uid: no read first.
    assert kube.verbs() == ["delete"]
    assert "deletionTimestamp" in namespace(kube, record.namespace)["metadata"]
    assert first == RunAgain(1, StepPayload.of(record).model_copy(update={"polls": 1}))
    kube.calls.clear()
    clock.advance(first.countdown)

    second = run_teardown(runtime, first.payload.model_copy(update={"attempt": 2}))

    assert kube.verbs() == ["read"]
    assert second == RunAgain(1, StepPayload.of(record).model_copy(update={"polls": 2}))
    assert heartbeat(redis_url, registry, record.id) == clock.now() + second.countdown
    assert events.events == []
    kube.finish_terminating(record.namespace)
    clock.advance(second.countdown)

    assert run_teardown(runtime, second.payload) is None

    gone = registry.require(record.id)
    assert gone.state is LessonState.GONE
    assert events.outcomes() == [(TEARDOWN_STEP, Outcome.DONE)]
    assert heartbeat(redis_url, registry, record.id) is None


@pytest.mark.settings(readiness_watch=4, stall_timeout=10)
def test_the_pause_between_looks_grows(
    runtime: Runtime, claimed: Callable[..., LessonRecord]
) -> None:
    record = claimed()
    payload = StepPayload.of(record)
    pauses = []
    for _ in range(4):
        again = run_teardown(runtime, payload)
        assert again is not None
        pauses.append(again.countdown)
        payload = again.payload

    assert pauses == [1, 2, 4, 4]


def test_a_namespace_replaced_by_another_lessons_while_we_waited_counts_as_gone(
    runtime: Runtime,
    claimed: Callable[..., LessonRecord],
    kube: FakeKube,
    registry: LessonRegistry,
) -> None:
    record = claimed()
    again = run_teardown(runtime, StepPayload.of(record))
    assert again is not None
    kube.finish_terminating(record.namespace)
    newer = kube.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": record.namespace, "labels": {LESSON_ID: new_lesson_id()}},
        }
    )
    kube.calls.clear()

    assert run_teardown(runtime, again.payload) is None

    assert kube.verbs() == ["read"]
    assert namespace(kube, record.namespace) == newer
    assert registry.require(record.id).state is LessonState.GONE


def test_a_newer_namespace_of_the_same_name_is_never_deleted(
    runtime: Runtime,
    claimed: Callable[..., LessonRecord],
    kube: FakeKube,
    registry: LessonRegistry,
    events: Recorder,
) -> None:
    record = claimed()
    # Ours went, and a newer lesson of the same session made the namespace again.
    kube.finish_terminating(record.namespace)
    newer = kube.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": record.namespace, "labels": {LESSON_ID: new_lesson_id()}},
        }
    )

    assert run_teardown(runtime, StepPayload.of(record)) is None

    assert namespace(kube, record.namespace) == newer
    assert registry.require(record.id).state is LessonState.GONE
    assert events.outcomes() == [(TEARDOWN_STEP, Outcome.DONE)]


def test_without_a_recorded_uid_an_absent_namespace_means_nothing_is_left(
    runtime: Runtime, new_lesson: NewLesson, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = new_lesson()
    registry.begin_teardown([record.id])

    assert run_teardown(runtime, StepPayload.of(record)) is None

    assert kube.verbs() == ["read"]
    assert registry.require(record.id).state is LessonState.GONE


def test_without_a_recorded_uid_another_lessons_namespace_is_left_alone(
    runtime: Runtime, new_lesson: NewLesson, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = new_lesson()
    registry.begin_teardown([record.id])
    other = kube.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": record.namespace,
                "labels": {**registry.plan(record.id).labels(), LESSON_ID: new_lesson_id()},
            },
        }
    )

    assert run_teardown(runtime, StepPayload.of(record)) is None

    assert kube.verbs() == ["read"]
    assert namespace(kube, record.namespace) == other
    assert registry.require(record.id).state is LessonState.GONE


def test_without_a_recorded_uid_our_namespace_is_read_then_deleted_by_its_uid(
    runtime: Runtime, in_cluster: NewLesson, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = in_cluster()  # its namespace exists; the uid never reached the record
    registry.begin_teardown([record.id])
    assert registry.require(record.id).namespace_uid is None

    again = run_teardown(runtime, StepPayload.of(record))

    assert kube.verbs() == ["read", "delete"]
    assert "deletionTimestamp" in namespace(kube, record.namespace)["metadata"]
    assert again is not None and again.payload.polls == 1
    assert registry.require(record.id).state is LessonState.TEARING_DOWN


def test_without_a_recorded_uid_our_namespace_already_terminating_is_waited_for(
    runtime: Runtime, in_cluster: NewLesson, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = in_cluster()
    found = namespace(kube, record.namespace)
    kube.delete(NAMESPACE, record.namespace, found["metadata"]["uid"])
    registry.begin_teardown([record.id])
    kube.calls.clear()

    again = run_teardown(runtime, StepPayload.of(record))

    assert kube.verbs() == ["read"]
    assert again is not None and again.payload.polls == 1
    assert registry.require(record.id).state is LessonState.TEARING_DOWN


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (TransientError("the server is busy", status=503, retry_after=0.8), "5xx"),
        (PermanentError("namespaces is forbidden", status=403, reason="Forbidden"), "Forbidden"),
    ],
)
def test_an_api_error_is_retried_with_a_backoff(
    error: PermanentError | TransientError,
    label: str,
    runtime: Runtime,
    claimed: Callable[..., LessonRecord],
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
    clock: FakeClock,
    redis_url: str,
) -> None:
    record = claimed()
    kube.fail("delete", error)
    clock.advance(3)

    again = run_teardown(runtime, StepPayload.of(record))

    assert again is not None
    assert again.payload == StepPayload.of(record).model_copy(update={"attempt": 1})
    # Attempt 0: 0.25 s with equal jitter; a PermanentError has no Retry-After to respect.
    floor = getattr(error, "retry_after", None) or 0.125
    assert floor <= again.countdown <= max(floor, 0.25)
    [event] = events.events
    assert (event.step, event.outcome, event.reason) == (TEARDOWN_STEP, Outcome.RETRY, label)
    assert heartbeat(redis_url, registry, record.id) == clock.now() + again.countdown
    assert registry.require(record.id).state is LessonState.TEARING_DOWN


def polled_until_the_deadline(
    runtime: Runtime, clock: FakeClock, record: LessonRecord
) -> StepPayload:
    """Delete, look again until just before the teardown deadline, then let it pass: the
    payload of the next look."""
    assert record.teardown_deadline is not None
    again = run_teardown(runtime, StepPayload.of(record))
    assert again is not None
    clock.advance(record.teardown_deadline - 0.5 - clock.now())
    again = run_teardown(runtime, again.payload)
    assert again is not None
    clock.advance(0.5)
    return again.payload


def test_an_error_past_the_teardown_deadline_is_reported_and_left_to_gc(
    runtime: Runtime,
    claimed: Callable[..., LessonRecord],
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
    clock: FakeClock,
    redis_url: str,
    producer: RecordingProducer,
) -> None:
    record = claimed()
    payload = polled_until_the_deadline(runtime, clock, record)
    beat = heartbeat(redis_url, registry, record.id)
    kube.fail("read", TransientError("the server is busy", status=503))

    assert run_teardown(runtime, payload) is None

    overdue = registry.require(record.id)
    assert overdue.state is LessonState.TEARING_DOWN
    assert overdue.teardown_error == "not finished 300s after it began: the server is busy"
    [event] = events.events
    assert (event.outcome, event.reason, event.error) == (
        Outcome.OVERDUE,
        "5xx",
        "the server is busy",
    )
    # No progress reported: the heartbeat goes quiet (it stays at when the last look was due),
    # and GC resumes the teardown once it has been quiet for the stall timeout.
    assert beat is not None and heartbeat(redis_url, registry, record.id) == beat
    assert resume_stalled(runtime, clock.now()) == []
    clock.advance(beat + runtime.settings.stall_timeout - clock.now())
    assert resume_stalled(runtime, clock.now()) == [record.id]
    assert producer.take() == [Message(Job.TEARDOWN, StepPayload.of(record).kwargs(), 0)]


def test_a_namespace_still_terminating_past_the_deadline_is_reported_until_it_goes(
    runtime: Runtime,
    claimed: Callable[..., LessonRecord],
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
    clock: FakeClock,
    redis_url: str,
    producer: RecordingProducer,
) -> None:
    record = claimed()
    payload = polled_until_the_deadline(runtime, clock, record)
    beat = heartbeat(redis_url, registry, record.id)

    assert run_teardown(runtime, payload) is None

    overdue = registry.require(record.id)
    assert overdue.teardown_error == (
        "not finished 300s after it began: the namespace is still terminating"
    )
    assert events.outcomes() == [(TEARDOWN_STEP, Outcome.OVERDUE)]
    assert events.events[0].reason is None
    assert heartbeat(redis_url, registry, record.id) == beat

    # GC resumes it once quiet for the stall timeout; still terminating: reported again.
    assert resume_stalled(runtime, clock.now()) == []
    assert beat is not None
    clock.advance(beat + runtime.settings.stall_timeout - clock.now())
    assert resume_stalled(runtime, clock.now()) == [record.id]
    [resent] = producer.take()
    assert resent.task == Job.TEARDOWN and resent.payload.polls == 0
    assert run_teardown(runtime, resent.payload) is None
    assert events.outcomes()[-1] == (TEARDOWN_STEP, Outcome.OVERDUE)
    assert registry.require(record.id).state is LessonState.TEARING_DOWN

    # The namespace controller finishes; the next resumed run finds it gone.
    kube.finish_terminating(record.namespace)
    clock.advance(runtime.settings.stall_timeout)
    assert resume_stalled(runtime, clock.now()) == [record.id]
    [resent] = producer.take()
    assert run_teardown(runtime, resent.payload) is None
    assert registry.require(record.id).state is LessonState.GONE
    assert events.outcomes()[-1] == (TEARDOWN_STEP, Outcome.DONE)
    assert heartbeat(redis_url, registry, record.id) is None


def test_a_batch_fans_out_one_teardown_per_lesson_still_tearing_down(
    runtime: Runtime,
    new_lesson: NewLesson,
    registry: LessonRegistry,
    producer: RecordingProducer,
) -> None:
    tearing, live, gone = new_lesson(), new_lesson(), new_lesson()
    registry.begin_teardown([tearing.id, gone.id])
    registry.finish_teardown(gone.id)
    tearing = registry.require(tearing.id)

    fan_out(runtime, [tearing.id, live.id, new_lesson_id(), gone.id])

    assert producer.sent == [Message(Job.TEARDOWN, StepPayload.of(tearing).kwargs(), 0)]
