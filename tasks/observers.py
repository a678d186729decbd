"""The observers of every step run: its log line, and its Prometheus metrics.

The metrics are created on first use, in the process that records them. A worker started with
``PROMETHEUS_MULTIPROC_DIR`` in its environment (``workers.metrics``) has each pool process write
its samples to files there, and its main process serves their sum. Label values come from small
fixed sets: an outcome, and a reason that is a transient error's status class or a permanent
error's Kubernetes reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from config.logs import EXTRA_KEY
from tasks.outcomes import TEARDOWN_STEP, Outcome, Reason, StepEvent

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

log = logging.getLogger("lessonq.provision")

# Seconds: a create takes milliseconds, a readiness watch up to LESSONQ_READINESS_WATCH.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class LogLine:
    """One line per run: INFO, or WARNING for an overdue teardown (someone should look)."""

    def step_ended(self, event: StepEvent) -> None:
        level = logging.WARNING if event.outcome is Outcome.OVERDUE else logging.INFO
        fields = event.fields()
        log.log(
            level,
            "lesson %s (%s, session %s, namespace %s) step %s: %s in %.3fs",
            event.payload.lesson_id,
            event.payload.lesson,
            event.payload.session_id,
            event.payload.namespace,
            event.step,
            event.summary(),
            event.duration,
            extra={EXTRA_KEY: fields},
        )


@dataclass(frozen=True)
class _Metrics:
    provision: Histogram
    teardown: Histogram
    retries: Counter
    failures: Counter
    overdue: Counter


@cache
def _metrics() -> _Metrics:
    from prometheus_client import Counter, Histogram

    return _Metrics(
        provision=Histogram(
            "lessonq_provision_step_duration_seconds",
            "Time one run of a provisioning step took, by step and outcome.",
            ["step", "outcome"],
            buckets=BUCKETS,
        ),
        teardown=Histogram(
            "lessonq_teardown_duration_seconds",
            "Time one run of a teardown took, by outcome.",
            ["outcome"],
            buckets=BUCKETS,
        ),
        retries=Counter(
            "lessonq_step_retries",
            "Steps (and teardowns) scheduled again after a transient error, by reason.",
            ["step", "reason"],
        ),
        failures=Counter(
            "lessonq_lesson_failures",
            "Lessons failed, by the step that failed them and the reason.",
            ["step", "reason"],
        ),
        overdue=Counter(
            "lessonq_teardowns_overdue",
            "Teardown runs that found the teardown past LESSONQ_TEARDOWN_TIMEOUT (GC tries again).",
        ),
    )


class StepMetrics:
    def step_ended(self, event: StepEvent) -> None:
        metrics = _metrics()
        if event.step == TEARDOWN_STEP:
            metrics.teardown.labels(event.outcome.value).observe(event.duration)
        else:
            metrics.provision.labels(event.step, event.outcome.value).observe(event.duration)
        why = event.reason or Reason.OTHER
        if event.outcome is Outcome.RETRY:
            metrics.retries.labels(event.step, why).inc()
        elif event.outcome is Outcome.FAILED:
            metrics.failures.labels(event.step, why).inc()
        elif event.outcome is Outcome.OVERDUE:
            metrics.overdue.inc()
