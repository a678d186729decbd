"""The provisioning tasks: one Celery task per step, all run the same way.

Running a step: mark it started (or stop, if the lesson is no longer provisioning), run its
body, then either start the steps it unblocks, retry it with backoff (transient errors, within
the lesson's provisioning deadline), run it again later (readiness), or fail the lesson with the
API's message (permanent errors). Delivery is at least once (acks_late); every step is
idempotent, so a redelivered or resumed step simply finds its work done.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, NoReturn

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from redis.exceptions import RedisError

from scheduler.dispatch import StepPayload
from scheduler.logfields import EXTRA_KEY
from scheduler.steps import Step
from tasks import metrics
from tasks.kube import KubeError, PermanentError, TransientError
from tasks.runtime import Runtime, runtime
from tasks.steps import BODIES, Again, Done, StepBody, StepContext, Stop

log = logging.getLogger("lessonq.provision")

BACKOFF_BASE = 0.25


class LessonTask(Task):  # type: ignore[misc]
    """At-least-once delivery: acknowledged only once the work is done or handed on."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    max_retries = None


def backoff(attempt: int, *, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with equal jitter; never sooner than the server's Retry-After."""
    delay = min(cap, BACKOFF_BASE * 2.0**attempt)
    delay = delay / 2 + random.uniform(0, delay / 2)
    return max(delay, retry_after or 0.0)


def describe(payload: StepPayload, step: str) -> dict[str, Any]:
    return {
        "lesson_id": payload.lesson_id,
        "lesson": payload.lesson,
        "session_id": payload.session_id,
        "namespace": payload.namespace,
        "step": step,
    }


def log_step(payload: StepPayload, step: str, outcome: str, started: float, **extra: Any) -> None:
    fields = {
        **describe(payload, step),
        "outcome": outcome,
        "duration_s": round(time.monotonic() - started, 3),
        **extra,
    }
    log.info(
        "lesson %(lesson_id)s (%(lesson)s, session %(session_id)s, namespace %(namespace)s) "
        "step %(step)s: %(outcome)s in %(duration_s)ss",
        fields,
        extra={EXTRA_KEY: fields},
    )
    metrics.record_step(fields)


def run_step(task: LessonTask, step: Step, body: StepBody, payload: StepPayload) -> None:
    rt = runtime()
    started = time.monotonic()
    started_step = rt.registry.start_step(payload.lesson_id, step)
    if started_step is None:
        log_step(payload, step, "skipped: lesson no longer provisioning", started)
        return
    record, plan = started_step
    # Readiness judges the deadline itself, and then says which endpoints it waited for.
    if time.time() >= record.deadline and step is not Step.READINESS:
        message = "provisioning did not finish before its deadline"
        _fail(rt, payload, step, message, started, metrics.DEADLINE)
        return
    context = StepContext(
        plan=plan,
        payload=payload,
        deadline=record.deadline,
        kube=rt.kube,
        registry=rt.registry,
        dispatcher=rt.dispatcher,
        settings=rt.settings,
    )
    try:
        outcome = body(context)
    except TransientError as error:
        countdown = retry_countdown(rt, payload, step, error, started, record.deadline)
        if countdown is None:
            return
        run_again(task, payload, countdown, attempt=payload.attempt + 1)
    except PermanentError as error:
        _fail(rt, payload, step, error.message, started, metrics.reason(error))
        return
    except (RedisError, SoftTimeLimitExceeded):
        # No verdict on the lesson: the task fails, and GC resumes the lesson once it stalls.
        raise
    except Exception as error:
        log.exception("step %s of lesson %s raised", step, payload.lesson_id)
        _fail(rt, payload, step, f"internal error: {error!r}", started, metrics.INTERNAL)
        return
    if isinstance(outcome, Again):
        rt.registry.report_progress(payload.lesson_id)
        run_again(
            task,
            payload,
            outcome.countdown,
            attempt=0,
            ready_since=outcome.ready_since,
            polls=outcome.polls,
        )
    if isinstance(outcome, Stop):
        log_step(payload, step, "stopped: lesson is being torn down", started)
        return
    assert isinstance(outcome, Done)
    following = rt.registry.complete_step(payload.lesson_id, step)
    rt.dispatcher.steps(following, payload.fresh())
    log_step(payload, step, "done", started, next=[s.value for s in following])


def run_again(
    task: LessonTask, payload: StepPayload, countdown: float, **counters: Any
) -> NoReturn:
    """Re-send this task in `countdown` s with these counters (acked once the retry is sent)."""
    raise task.retry(countdown=countdown, kwargs=payload.model_copy(update=counters).kwargs())


def retry_countdown(
    rt: Runtime,
    payload: StepPayload,
    step: str,
    error: KubeError,
    started: float,
    deadline: float | None,
) -> float | None:
    """Seconds until a retry after `error`, or None when the deadline comes first (the lesson
    fails). Without a deadline (teardown) there is always a retry, ever more patiently."""
    countdown = backoff(
        payload.attempt,
        cap=rt.settings.retry_backoff_max,
        retry_after=error.retry_after if isinstance(error, TransientError) else None,
    )
    if deadline is not None and time.time() + countdown >= deadline:
        message = f"step {step} did not succeed before the provisioning deadline: {error.message}"
        _fail(rt, payload, Step(step), message, started, metrics.DEADLINE)
        return None
    rt.registry.report_progress(payload.lesson_id)
    log_step(
        payload,
        step,
        f"retrying in {countdown:.2f}s",
        started,
        error=error.message,
        reason=metrics.reason(error),
    )
    return countdown


def _fail(
    rt: Runtime, payload: StepPayload, step: Step, message: str, started: float, reason: str
) -> None:
    # A lesson torn down while this step ran makes its errors moot: fail only a live one.
    if rt.registry.fail(payload.lesson_id, f"{step}: {message}"):
        log_step(payload, step, "failed", started, error=message, reason=reason)
    else:
        log_step(payload, step, "stopped: lesson is being torn down", started)


def _register(step: Step, body: StepBody) -> Task:
    @shared_task(name=step.task_name, base=LessonTask, bind=True)  # type: ignore[untyped-decorator]
    def provision_step(self: LessonTask, **kwargs: Any) -> None:
        run_step(self, step, body, StepPayload.model_validate(kwargs))

    provision_step.__doc__ = f"Provisioning step: {step}."
    return provision_step


for _step, _body in BODIES.items():
    _register(_step, _body)
