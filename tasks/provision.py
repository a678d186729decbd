"""Running a provisioning step, and the Celery tasks that do it (one per step).

Running a step: mark it started (or stop, if the lesson is no longer provisioning), run its
body, then start the steps it unblocks, retry it with backoff (transient errors, within the
lesson's provisioning deadline), run it again later (readiness), or fail the lesson with the
API's message (permanent errors). The body asks for a retry by raising a TransientError; the
backoff is the runner's. Delivery is at least once (acks_late); every step is idempotent, so a
redelivered or resumed step simply finds its work done.

`run_step` decides and returns what comes next; the Celery task only carries it out, so the
logic runs in fast tests without a worker.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from redis.exceptions import RedisError

from jobs import StepPayload
from kube import PermanentError, TransientError
from lessons.state import Diagnostics
from lessons.steps import Step
from registry import NotStarted
from tasks.diagnostics import diagnose
from tasks.outcomes import Outcome, Reason, reason
from tasks.running import LessonTask, RunAgain, StepRun, carry_out, retry_after_error
from tasks.runtime import Runtime, runtime
from tasks.steps import Again, Done, StepContext, Stop, body_of

log = logging.getLogger("lessonq.provision")


def run_step(rt: Runtime, step: Step, payload: StepPayload) -> RunAgain | None:
    """Run one step of one lesson; what to send again, if anything."""
    run = StepRun(rt, step.value, payload)
    started_step = rt.registry.start_step(payload.lesson_id, step)
    if isinstance(started_step, NotStarted):
        run.report(Outcome.SKIPPED, why=started_step.value)
        return None
    record, plan = started_step

    def fail(message: str, why: str) -> None:
        # The namespace step's failures are about a namespace that may not be the lesson's.
        diagnostics = None if step is Step.NAMESPACE else _diagnose(rt, plan.namespace)
        run.fail(message, why, diagnostics)

    # A step that waits for the cluster judges the deadline itself, to say what it waited for.
    if rt.clock.now() >= record.deadline and not step.waits:
        fail("provisioning did not finish before its deadline", Reason.DEADLINE)
        return None
    try:
        result = body_of(step)(StepContext.of(rt, step, record, plan, payload))
    except TransientError as error:
        countdown = retry_after_error(rt, payload, error)
        if rt.clock.now() + countdown >= record.deadline:
            message = (
                f"step {step} did not succeed before the provisioning deadline: {error.message}"
            )
            fail(message, Reason.DEADLINE)
            return None
        return run.retry(error, countdown)
    except PermanentError as error:
        fail(error.message, reason(error))
        return None
    except (RedisError, SoftTimeLimitExceeded):
        # No verdict on the lesson: the task fails, and GC resumes the lesson once it stalls.
        raise
    except Exception as error:
        log.exception("step %s of lesson %s raised", step, payload.lesson_id)
        fail(f"internal error: {error!r}", Reason.INTERNAL)
        return None
    if isinstance(result, Again):
        return run.again(
            result.countdown, attempt=0, ready_since=result.ready_since, polls=result.polls
        )
    if isinstance(result, Stop):
        run.report(Outcome.STOPPED, why="lesson is being torn down")
        return None
    assert isinstance(result, Done)
    following = rt.registry.complete_step(payload.lesson_id, step)
    rt.producer.steps(following, payload.fresh())
    run.report(Outcome.DONE, next=tuple(s.value for s in following))
    return None


def _register(step: Step) -> Task:
    @shared_task(name=step.task_name, base=LessonTask, bind=True)  # type: ignore[untyped-decorator]
    def provision_step(self: LessonTask, **kwargs: Any) -> None:
        carry_out(self, run_step(runtime(), step, StepPayload.model_validate(kwargs)))

    provision_step.__doc__ = f"Provisioning step: {step}."
    return provision_step


for _step in Step:
    _register(_step)


def _diagnose(rt: Runtime, namespace: str) -> Diagnostics:
    """What the lesson's pods said; a note instead when that cannot be read (never an error
    that would hide the failure itself)."""
    try:
        return diagnose(rt.kube, namespace)
    except Exception as error:
        log.exception("diagnosing namespace %s raised", namespace)
        return Diagnostics(note=f"the diagnostics could not be collected: {error!r}")
