"""Prometheus metrics of the steps: durations, retries and failures, recorded with the log line.

Every step transition is logged once (``tasks.provision.log_step``); the same fields feed these
metrics, so a log line and a sample can never disagree. Label values come from small fixed
sets: an outcome, and a reason that is a transient error's status class or a permanent error's
Kubernetes reason.

The metrics are created on first use, in the process that records them. A worker started
with ``PROMETHEUS_MULTIPROC_DIR`` in its environment (``workers.metrics``) has each pool process
write its samples to files there, and its main process serves their sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from tasks.kube import KubeError, TransientError

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

TEARDOWN_STEP = "teardown"
# Seconds: a create takes milliseconds, a readiness watch up to LESSONQ_READINESS_WATCH.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# The first word of a log line's outcome ("retrying in 0.42s", "skipped: ...") as a label.
OUTCOMES = {
    "done": "done",
    "retrying": "retry",
    "failed": "failed",
    "stopped": "stopped",
    "skipped": "skipped",
}
# Failures that no Kubernetes status names: refused by lessonq itself (an object that belongs
# to someone else, a pod that can never start), or out of time.
REFUSED = "refused"
DEADLINE = "deadline"
INTERNAL = "internal"
# The reasons a Kubernetes Status may carry (metav1.StatusReason); anything else is "other".
_STATUS_REASONS = frozenset(
    {
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "AlreadyExists",
        "Conflict",
        "Gone",
        "Invalid",
        "ServerTimeout",
        "Timeout",
        "TooManyRequests",
        "BadRequest",
        "MethodNotAllowed",
        "NotAcceptable",
        "RequestEntityTooLarge",
        "UnsupportedMediaType",
        "InternalError",
        "Expired",
        "ServiceUnavailable",
    }
)


def reason(error: KubeError) -> str:
    """A small, fixed label for an error.

    Transient errors by status class (``5xx``, ``429``, ``408``, ``410``; ``no-status`` for
    connection errors, timeouts and waits on another lesson's namespace); permanent ones by their
    Kubernetes reason (``Forbidden``, ``Invalid``...), ``deadline`` when the provisioning
    deadline came first, or ``refused`` when lessonq refused.
    """
    if error.reason == DEADLINE:
        return DEADLINE
    if isinstance(error, TransientError):
        if not error.status:
            return "no-status"
        return "5xx" if error.status >= 500 else str(error.status)
    if error.reason is None and error.status is None:
        return REFUSED
    return error.reason if error.reason in _STATUS_REASONS else "other"


@dataclass(frozen=True)
class _Metrics:
    provision: Histogram
    teardown: Histogram
    retries: Counter
    failures: Counter


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
    )


def outcome_label(outcome: str) -> str:
    return OUTCOMES.get(outcome.split(maxsplit=1)[0].rstrip(":"), "other") if outcome else "other"


def record_step(fields: Mapping[str, Any]) -> None:
    """Record one step transition from the fields of its log line."""
    metrics = _metrics()
    step = str(fields["step"])
    outcome = outcome_label(str(fields["outcome"]))
    duration = float(fields["duration_s"])
    if step == TEARDOWN_STEP:
        metrics.teardown.labels(outcome).observe(duration)
    else:
        metrics.provision.labels(step, outcome).observe(duration)
    why = str(fields.get("reason") or "other")
    if outcome == "retry":
        metrics.retries.labels(step, why).inc()
    elif outcome == "failed":
        metrics.failures.labels(step, why).inc()
