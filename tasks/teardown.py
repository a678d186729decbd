"""Teardown: delete the lesson's namespace, look again until it is gone, then GONE.

Deleting the namespace removes everything in it. The delete names the namespace's uid, so a
newer lesson that reuses the name is never touched. A namespace that is not ours (another
lesson's, or none) means there is nothing of ours left to remove. A teardown still unfinished
LESSONQ_TEARDOWN_TIMEOUT after it began is reported (log line, metric, the record's
`teardown_error`) and stops retrying; GC resumes it once its heartbeat has gone quiet, and so on
until the namespace is gone.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from jobs import StepPayload
from kube import KubeApi, KubeError, is_terminating, owner_of
from kube.kinds import NAMESPACE
from lessons.state import LessonRecord, LessonState
from lessons.steps import Job
from tasks.outcomes import TEARDOWN_STEP, Outcome, reason
from tasks.running import LessonTask, RunAgain, StepRun, carry_out, retry_after_error
from tasks.runtime import Runtime, runtime
from tasks.steps import poll_pause


def start_deletion(kube: KubeApi, namespace: str, lesson_id: str, uid: str | None) -> bool:
    """Delete the lesson's namespace; True when nothing of ours is left to wait for.

    With the uid the registry recorded, one DELETE does (its precondition makes sure it is
    ours); without it, the namespace is read first to check it is ours.
    """
    if uid is None:
        existing = kube.read(NAMESPACE, namespace)
        if existing is None or owner_of(existing) != lesson_id:
            return True
        uid = existing["metadata"]["uid"]
        if is_terminating(existing):
            return False
    return kube.delete(NAMESPACE, namespace, uid) is None


def namespace_gone(kube: KubeApi, namespace: str, lesson_id: str) -> bool:
    existing = kube.read(NAMESPACE, namespace)
    return existing is None or owner_of(existing) != lesson_id


def run_teardown(rt: Runtime, payload: StepPayload) -> RunAgain | None:
    """Delete once, then look again after growing pauses (a namespace takes seconds to go);
    a worker slot is never held while it terminates."""
    run = StepRun(rt, TEARDOWN_STEP, payload)
    record = rt.registry.get(payload.lesson_id)
    if record is None or record.state is not LessonState.TEARING_DOWN:
        return None
    try:
        if payload.polls == 0:
            gone = start_deletion(
                rt.kube, payload.namespace, payload.lesson_id, record.namespace_uid
            )
        else:
            gone = namespace_gone(rt.kube, payload.namespace, payload.lesson_id)
    except KubeError as error:
        if _overdue(rt, record, error.message):
            run.report(Outcome.OVERDUE, error=error.message, reason=reason(error))
            return None
        return run.retry(error, retry_after_error(rt, payload, error))
    if not gone:
        if _overdue(rt, record, "the namespace is still terminating"):
            run.report(Outcome.OVERDUE, error="the namespace is still terminating")
            return None
        pause = poll_pause(payload.polls, rt.settings.readiness_watch)
        return run.again(pause, attempt=0, polls=payload.polls + 1)
    rt.registry.finish_teardown(payload.lesson_id)
    run.report(Outcome.DONE)
    return None


def _overdue(rt: Runtime, record: LessonRecord, why: str) -> bool:
    """Whether the teardown is past its deadline; if so, the record says why."""
    deadline = record.teardown_deadline
    if deadline is None or rt.clock.now() < deadline:
        return False
    late = rt.settings.teardown_timeout
    rt.registry.teardown_overdue(record.id, f"not finished {late:g}s after it began: {why}")
    return True


@shared_task(name=Job.TEARDOWN, base=LessonTask, bind=True)  # type: ignore[untyped-decorator]
def teardown(self: LessonTask, **kwargs: Any) -> None:
    carry_out(self, run_teardown(runtime(), StepPayload.model_validate(kwargs)))


def fan_out(rt: Runtime, lesson_ids: list[str]) -> None:
    """One teardown per lesson of a batch (from GC) that is still tearing down."""
    for lesson_id in lesson_ids:
        record = rt.registry.get(lesson_id)
        if record is not None and record.state is LessonState.TEARING_DOWN:
            rt.producer.teardown(StepPayload.of(record))


@shared_task(name=Job.TEARDOWN_MANY, base=LessonTask)  # type: ignore[untyped-decorator]
def teardown_many(lesson_ids: list[str]) -> None:
    fan_out(runtime(), lesson_ids)
