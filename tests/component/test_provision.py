"""Running a provisioning step (``tasks.provision.run_step``): skipping, retrying, failing,
running again, stopping and starting the next steps, and a whole lesson driven to READY."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from redis.exceptions import ConnectionError as RedisConnectionError

from jobs import StepPayload
from kube import PermanentError, TransientError, WatchEvent
from kube.kinds import NAMESPACE
from lessons.naming import INSTANCE, MANAGED
from lessons.state import LessonRecord, LessonState, StepStatus
from lessons.steps import PIPELINE, Step
from registry import LessonRegistry
from tasks.outcomes import Outcome, Reason
from tasks.provision import run_step
from tasks.running import RunAgain
from tasks.runtime import Runtime
from tests.fakes.clock import FakeClock
from tests.fakes.kube import Call, FakeKube
from tests.fakes.observer import Recorder
from tests.fakes.producer import Message, RecordingProducer
from tests.fakes.worker import FakeWorker
from tests.support.redis import heartbeat

NewLesson = Callable[..., LessonRecord]


def slow_calls(kube: FakeKube, clock: FakeClock, seconds: float) -> None:
    """Every API call takes `seconds`: what a step reports afterwards is stamped later."""

    def take_time(call: Call) -> None:
        clock.advance(seconds)

    kube.on_call = take_time


def test_a_step_of_a_lesson_no_longer_provisioning_is_skipped(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    events: Recorder,
    producer: RecordingProducer,
    registry: LessonRegistry,
) -> None:
    record = new_lesson()
    registry.begin_teardown([record.id])

    assert run_step(runtime, Step.NAMESPACE, StepPayload.of(record)) is None

    assert events.outcomes() == [("namespace", Outcome.SKIPPED)]
    assert events.events[0].why == "lesson no longer provisioning"
    assert kube.calls == [] and producer.sent == []
    assert registry.require(record.id).state is LessonState.TEARING_DOWN


@pytest.mark.parametrize("step", [Step.NAMESPACE, Step.PODS])
def test_a_step_that_starts_after_the_deadline_fails_the_lesson(
    step: Step,
    runtime: Runtime,
    in_cluster: NewLesson,
    kube: FakeKube,
    events: Recorder,
    clock: FakeClock,
    registry: LessonRegistry,
) -> None:
    record = in_cluster()  # the step delivered again, once what it needs is done
    clock.advance(record.deadline - clock.now())

    assert run_step(runtime, step, StepPayload.of(record)) is None

    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED
    assert failed.error == f"{step}: provisioning did not finish before its deadline"
    assert events.outcomes() == [(step.value, Outcome.FAILED)]
    assert events.events[0].reason == Reason.DEADLINE
    # Nothing made; only what the lesson's pods say is read, for its diagnostics.
    diagnosed = [] if step is Step.NAMESPACE else [("list", "Pod"), ("list", "Event")]
    assert [(call.verb, call.kind) for call in kube.calls] == diagnosed


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (TransientError("etcdserver: request timed out", status=504, retry_after=0.7), "5xx"),
        (
            TransientError(
                "too many requests", status=429, reason="TooManyRequests", retry_after=0.9
            ),
            "429",
        ),
        (TransientError("Kubernetes API unreachable: refused"), "no-status"),
    ],
)
def test_a_transient_error_runs_the_step_again_after_a_backoff(
    error: TransientError,
    label: str,
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    events: Recorder,
    clock: FakeClock,
    registry: LessonRegistry,
    redis_url: str,
    producer: RecordingProducer,
) -> None:
    record = new_lesson()
    payload = StepPayload.of(record).model_copy(update={"attempt": 2})
    kube.fail("create", error)
    slow_calls(kube, clock, 0.5)

    again = run_step(runtime, Step.NAMESPACE, payload)

    assert isinstance(again, RunAgain)
    assert again.payload == payload.model_copy(update={"attempt": 3})
    # Attempt 2: 1 s with equal jitter, never sooner than the server asked.
    assert max(0.5, error.retry_after or 0) <= again.countdown <= max(1, error.retry_after or 0)
    [event] = events.events
    assert (event.outcome, event.reason, event.error) == (Outcome.RETRY, label, error.message)
    assert event.retry_in == again.countdown
    assert event.duration == 0.5
    # The lesson is still moving: GC's stall timeout counts from when it runs again.
    assert heartbeat(redis_url, registry, record.id) == clock.now() + again.countdown
    assert registry.require(record.id).state is LessonState.PROVISIONING
    assert producer.sent == []


def test_a_transient_error_whose_backoff_passes_the_deadline_fails_the_lesson(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    events: Recorder,
    clock: FakeClock,
    registry: LessonRegistry,
) -> None:
    record = new_lesson()
    clock.advance(record.deadline - clock.now() - 2)
    kube.fail("create", TransientError("the server is busy", status=503, retry_after=2))

    assert run_step(runtime, Step.NAMESPACE, StepPayload.of(record)) is None

    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED
    assert failed.error == (
        "namespace: step namespace did not succeed before the provisioning deadline: "
        "the server is busy"
    )
    assert events.outcomes() == [("namespace", Outcome.FAILED)]
    assert events.events[0].reason == Reason.DEADLINE


def test_a_permanent_error_fails_the_lesson_with_the_apis_message_and_reason(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
    producer: RecordingProducer,
    redis_url: str,
) -> None:
    record = new_lesson()
    message = 'namespaces is forbidden: User "lessonq" cannot create resource "namespaces"'
    kube.fail("create", PermanentError(message, status=403, reason="Forbidden"))

    assert run_step(runtime, Step.NAMESPACE, StepPayload.of(record)) is None

    failed = registry.require(record.id)
    assert (failed.state, failed.error) == (LessonState.FAILED, f"namespace: {message}")
    [event] = events.events
    assert (event.outcome, event.reason, event.error) == (Outcome.FAILED, "Forbidden", message)
    assert producer.sent == []
    # Out of the heartbeat index: GC does not resume a failed lesson.
    assert heartbeat(redis_url, registry, record.id) is None


def test_an_object_lessonq_refuses_fails_the_lesson_as_refused(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
) -> None:
    record = new_lesson()
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": record.namespace,
                "labels": {MANAGED: "true", INSTANCE: "someone-else"},
            },
        }
    )

    assert run_step(runtime, Step.NAMESPACE, StepPayload.of(record)) is None

    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED
    assert failed.error is not None and "is not managed by lessonq instance" in failed.error
    assert [(e.outcome, e.reason) for e in events.events] == [(Outcome.FAILED, "refused")]


def test_an_unexpected_exception_in_a_body_fails_the_lesson_as_an_internal_error(
    runtime: Runtime,
    in_cluster: NewLesson,
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = in_cluster()
    # A watch event without metadata: not what the API sends, and the body trips over it.
    kube.watch_events = lambda: [WatchEvent("MODIFIED", {"kind": "Pod"})]

    assert run_step(runtime, Step.READINESS, StepPayload.of(record)) is None

    failed = registry.require(record.id)
    assert (failed.state, failed.error) == (
        LessonState.FAILED,
        "readiness: internal error: KeyError('metadata')",
    )
    assert [(e.outcome, e.reason) for e in events.events] == [(Outcome.FAILED, Reason.INTERNAL)]
    [logged] = [r for r in caplog.records if r.exc_info is not None]
    assert logged.getMessage() == f"step readiness of lesson {record.id} raised"


def test_a_redis_error_is_no_verdict_on_the_lesson_and_propagates(
    runtime: Runtime,
    in_cluster: NewLesson,
    producer: RecordingProducer,
    events: Recorder,
    registry: LessonRegistry,
) -> None:
    record = in_cluster("snapshot-testing")
    # The broker is Redis too: asking how much work waits fails while it is down.
    producer.failure = RedisConnectionError("Error 111 connecting to redis:6379. Refused.")

    with pytest.raises(RedisConnectionError):
        run_step(runtime, Step.READINESS, StepPayload.of(record))

    # No verdict: the task fails, and GC resumes the lesson once it stalls.
    assert events.events == []
    assert registry.require(record.id).state is LessonState.PROVISIONING


def test_a_soft_time_limit_is_no_verdict_on_the_lesson_and_propagates(
    runtime: Runtime,
    in_cluster: NewLesson,
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
) -> None:
    record = in_cluster()

    def time_is_up() -> list[WatchEvent]:
        raise SoftTimeLimitExceeded()

    kube.watch_events = time_is_up

    with pytest.raises(SoftTimeLimitExceeded):
        run_step(runtime, Step.READINESS, StepPayload.of(record))

    assert events.events == []
    assert registry.require(record.id).state is LessonState.PROVISIONING


def test_a_step_not_finished_yet_runs_again_with_its_counters(
    runtime: Runtime,
    in_cluster: NewLesson,
    producer: RecordingProducer,
    events: Recorder,
    clock: FakeClock,
    kube: FakeKube,
    registry: LessonRegistry,
    redis_url: str,
) -> None:
    record = in_cluster("snapshot-testing")
    payload = StepPayload.of(record).model_copy(update={"attempt": 3, "polls": 1})

    def a_quiet_watch() -> list[WatchEvent]:
        clock.advance(runtime.settings.readiness_watch)  # the whole budget, and nothing
        return []

    kube.watch_events = a_quiet_watch

    again = run_step(runtime, Step.READINESS, payload)

    assert again == RunAgain(1, payload.model_copy(update={"attempt": 0, "polls": 2}))
    # The lesson is still moving: from the end of the watch, it looks again in a second.
    assert heartbeat(redis_url, registry, record.id) == clock.now() + again.countdown
    assert events.events == []  # a look that found the pods booting is not an outcome
    assert producer.sent == []


def test_configured_devices_settling_run_again_with_the_time_they_were_first_seen_done(
    runtime: Runtime,
    in_cluster: NewLesson,
    kube: FakeKube,
    clock: FakeClock,
    registry: LessonRegistry,
) -> None:
    record = in_cluster("bgp-spine-leaf")  # readyDelay: 2
    kube.run_pods(record.namespace)
    registry.start_step(record.id, Step.READINESS)
    registry.complete_step(record.id, Step.READINESS)
    jobs_made = run_step(runtime, Step.CONFIGURE, StepPayload.of(record))
    assert jobs_made is not None
    kube.finish_jobs(record.namespace)

    again = run_step(runtime, Step.CONFIGURE, jobs_made.payload)

    assert again is not None
    assert again.countdown == 2
    assert again.payload.ready_since == clock.now()
    assert again.payload.polls == 1


def test_a_step_whose_lesson_is_torn_down_meanwhile_stops(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
    producer: RecordingProducer,
) -> None:
    record = new_lesson()

    def teardown_meanwhile(call: Call) -> None:
        if call.verb == "create":
            registry.begin_teardown([record.id])

    kube.on_call = teardown_meanwhile

    assert run_step(runtime, Step.NAMESPACE, StepPayload.of(record)) is None

    assert events.outcomes() == [("namespace", Outcome.STOPPED)]
    assert events.events[0].why == "lesson is being torn down"
    assert registry.require(record.id).state is LessonState.TEARING_DOWN
    assert producer.sent == []
    assert "delete" in kube.verbs()


def test_a_failure_of_a_lesson_already_tearing_down_stops_instead_of_failing_it(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    events: Recorder,
    registry: LessonRegistry,
) -> None:
    record = new_lesson()

    def teardown_meanwhile(call: Call) -> None:
        registry.begin_teardown([record.id])

    kube.on_call = teardown_meanwhile
    kube.fail("create", PermanentError("nope", status=403, reason="Forbidden"))

    assert run_step(runtime, Step.NAMESPACE, StepPayload.of(record)) is None

    assert events.outcomes() == [("namespace", Outcome.STOPPED)]
    after = registry.require(record.id)
    assert after.state is LessonState.TEARING_DOWN and after.error is None


def test_a_finished_step_sends_the_steps_it_unblocks_with_fresh_payloads(
    runtime: Runtime,
    new_lesson: NewLesson,
    events: Recorder,
    registry: LessonRegistry,
    producer: RecordingProducer,
) -> None:
    record = new_lesson("snapshot-testing")
    payload = StepPayload.of(record).model_copy(update={"attempt": 4, "polls": 2})

    assert run_step(runtime, Step.NAMESPACE, payload) is None

    fresh = StepPayload.of(record).kwargs()
    assert producer.sent == [
        Message("lessonq.provision.networks", fresh, 3),
        Message("lessonq.provision.policies", fresh, 3),
        Message("lessonq.provision.services", fresh, 3),
        Message("lessonq.provision.files", fresh, 3),
    ]
    assert registry.require(record.id).steps[Step.NAMESPACE].status is StepStatus.DONE
    [event] = events.events
    assert event.outcome is Outcome.DONE
    assert event.next == ("networks", "policies", "services", "files")


def test_the_step_that_waits_for_three_others_is_sent_once_by_the_last_of_them(
    runtime: Runtime,
    new_lesson: NewLesson,
    kube: FakeKube,
    producer: RecordingProducer,
) -> None:
    record = new_lesson("snapshot-testing")
    run_step(runtime, Step.NAMESPACE, StepPayload.of(record))
    producer.take()

    run_step(runtime, Step.NETWORKS, StepPayload.of(record))
    assert producer.take() == []
    run_step(runtime, Step.FILES, StepPayload.of(record))
    assert producer.take() == []
    run_step(runtime, Step.POLICIES, StepPayload.of(record))

    assert producer.take() == [
        Message(Step.PODS.task_name, StepPayload.of(record).kwargs(), PIPELINE[Step.PODS].priority)
    ]


@pytest.mark.parametrize(
    ("slug", "settling", "configuring"),
    [
        ("linux-basics", 0, 0),  # readyDelay 0, nothing to configure
        # The configure step makes its Jobs and looks again 1 s later (they have succeeded),
        # then waits the readyDelay.
        ("snapshot-testing", 2, 1),  # readyDelay 3
        ("bgp-spine-leaf", 2, 1),  # readyDelay 2
    ],
)
def test_a_whole_lesson_is_provisioned_to_ready_by_delivering_its_messages(
    slug: str,
    settling: int,
    configuring: int,
    clock: FakeClock,
    new_lesson: NewLesson,
    worker: FakeWorker,
    producer: RecordingProducer,
    kube: FakeKube,
    registry: LessonRegistry,
    events: Recorder,
    redis_url: str,
) -> None:
    record = new_lesson(slug)
    start = clock.now()

    def the_cluster_works() -> None:
        kube.run_pods(record.namespace)
        kube.finish_jobs(record.namespace)

    worker.between = the_cluster_works
    producer.steps([Step.NAMESPACE], StepPayload.of(record))  # what the intake sends

    runs = worker.run()

    done = registry.require(record.id)
    assert done.state is LessonState.READY
    assert done.healthy == done.total == len(registry.plan(record.id).endpoints)
    assert all(done.step_done(step) for step in Step)
    namespace = kube.read(NAMESPACE, record.namespace)
    assert namespace is not None
    assert done.namespace_uid == namespace["metadata"]["uid"]
    assert done.configured == done.configurable == len(registry.plan(record.id).configured())
    # Each step done exactly once; configure also ran while its Jobs and the readyDelay ran.
    finished = [e.step for e in events.events if e.outcome is Outcome.DONE]
    assert sorted(finished) == sorted(step.value for step in Step)
    assert {e.outcome for e in events.events} == {Outcome.DONE}
    assert runs == len(Step) + settling
    waited = configuring + registry.plan(record.id).ready_delay
    assert done.ready_at == clock.now() == start + waited
    assert heartbeat(redis_url, registry, record.id) is None


def test_readiness_at_the_deadline_fails_the_lesson_with_the_endpoints_waited_for(
    runtime: Runtime,
    in_cluster: NewLesson,
    clock: FakeClock,
    events: Recorder,
    registry: LessonRegistry,
) -> None:
    record = in_cluster()
    clock.advance(record.deadline - clock.now() + 1)

    assert run_step(runtime, Step.READINESS, StepPayload.of(record)) is None

    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED
    assert failed.error == (
        "readiness: 0/1 endpoints ready at the provisioning deadline; waiting: linux1 (Pending)"
    )
    assert [(e.outcome, e.reason) for e in events.events] == [(Outcome.FAILED, Reason.DEADLINE)]
