"""What every lessonq task run shares: at-least-once delivery, the backoff, the report of how
a run ended, and the decision to run again, carried out by the Celery task."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from celery import Task

from jobs import StepPayload
from kube import KubeError, TransientError
from lessons.state import Diagnostics
from tasks.outcomes import Outcome, StepEvent, reason
from tasks.runtime import Runtime

BACKOFF_BASE = 0.25


class LessonTask(Task):  # type: ignore[misc]
    """At-least-once delivery: acknowledged only once the work is done or handed on."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    max_retries = None


@dataclass(frozen=True)
class RunAgain:
    """Send this task again in `countdown` seconds, with this payload."""

    countdown: float
    payload: StepPayload


def backoff(attempt: int, *, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with equal jitter; never sooner than the server's Retry-After."""
    delay = min(cap, BACKOFF_BASE * 2.0**attempt)
    delay = delay / 2 + random.uniform(0, delay / 2)
    return max(delay, retry_after or 0.0)


def retry_after_error(rt: Runtime, payload: StepPayload, error: KubeError) -> float:
    """Seconds until the next attempt after `error`."""
    return backoff(
        payload.attempt,
        cap=rt.settings.retry_backoff_max,
        retry_after=error.retry_after if isinstance(error, TransientError) else None,
    )


class StepRun:
    """One run of one step (or of a teardown), timed from its start: reports how it ended."""

    def __init__(self, rt: Runtime, step: str, payload: StepPayload) -> None:
        self.rt, self.step, self.payload = rt, step, payload
        self.started = rt.clock.monotonic()

    def report(self, outcome: Outcome, **details: Any) -> None:
        duration = self.rt.clock.monotonic() - self.started
        self.rt.report(StepEvent(self.payload, self.step, outcome, duration, **details))

    def again(self, countdown: float, **counters: Any) -> RunAgain:
        """Run again after `countdown` s with the payload's `counters` updated: the lesson is
        still moving, and GC's stall timeout counts from then."""
        self.rt.registry.report_progress(self.payload.lesson_id, next_run_in=countdown)
        return RunAgain(countdown, self.payload.model_copy(update=counters))

    def retry(self, error: KubeError, countdown: float) -> RunAgain:
        """Run again after `countdown` s, after an error worth retrying."""
        again = self.again(countdown, attempt=self.payload.attempt + 1)
        self.report(Outcome.RETRY, error=error.message, reason=reason(error), retry_in=countdown)
        return again

    def fail(self, message: str, why: str, diagnostics: Diagnostics | None = None) -> None:
        # A lesson torn down while this step ran makes its errors moot: fail only a live one.
        lesson_id, error = self.payload.lesson_id, f"{self.step}: {message}"
        if self.rt.registry.fail(lesson_id, error, diagnostics):
            self.report(Outcome.FAILED, error=message, reason=why)
        else:
            self.report(Outcome.STOPPED, why="lesson is being torn down")


def carry_out(task: Task, again: RunAgain | None) -> None:
    """Send the task again when asked (it is acknowledged once the retry is sent)."""
    if again is not None:
        raise task.retry(countdown=again.countdown, kwargs=again.payload.kwargs())
