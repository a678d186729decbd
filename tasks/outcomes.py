"""How one run of a step (or a teardown) ended, as a value that every observer reads.

The runner reports a `StepEvent` once per run; the log line and the metrics are observers of it
(``tasks.observers``), so they can never disagree, and neither parses the other's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from jobs import StepPayload
from kube import KubeError, TransientError

# The step of teardown events (provisioning events name their Step).
TEARDOWN_STEP = "teardown"


class Outcome(StrEnum):
    DONE = "done"
    # A transient error: the step runs again after a backoff.
    RETRY = "retry"
    # The lesson failed at this step.
    FAILED = "failed"
    # The lesson is being torn down: the step did nothing more.
    STOPPED = "stopped"
    # The lesson was no longer provisioning when the step started.
    SKIPPED = "skipped"
    # A teardown that passed LESSONQ_TEARDOWN_TIMEOUT: reported, and GC tries again later.
    OVERDUE = "overdue"


class Reason(StrEnum):
    """Reasons no Kubernetes status names."""

    # Refused by lessonq itself: an object that belongs to someone else, a pod that can never
    # start.
    REFUSED = "refused"
    DEADLINE = "deadline"
    # A configuration Job failed for good.
    CONFIGURATION = "configuration"
    # No node could hold the lesson's pods.
    PLACEMENT = "placement"
    INTERNAL = "internal"
    # A transient error without an HTTP status: a connection error, a timeout, a wait for
    # another lesson's namespace.
    NO_STATUS = "no-status"
    OTHER = "other"


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

    Transient errors by status class (``5xx``, ``429``, ``408``, ``410``; ``no-status`` without
    one); permanent ones by their Kubernetes reason (``Forbidden``, ``Invalid``...),
    ``deadline`` when the provisioning deadline came first, or ``refused`` when lessonq
    refused.
    """
    if error.reason in (Reason.DEADLINE, Reason.CONFIGURATION):
        return str(error.reason)
    if isinstance(error, TransientError):
        if not error.status:
            return Reason.NO_STATUS
        return "5xx" if error.status >= 500 else str(error.status)
    if error.reason is None and error.status is None:
        return Reason.REFUSED
    return error.reason if error.reason in _STATUS_REASONS else Reason.OTHER


@dataclass(frozen=True)
class StepEvent:
    payload: StepPayload
    step: str
    outcome: Outcome
    duration: float
    # Retries and failures: the error and its label.
    error: str | None = None
    reason: str | None = None
    retry_in: float | None = None
    # Skipped and stopped runs: why.
    why: str | None = None
    # Done steps: the steps they started.
    next: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The log line's structured fields (the JSON formatter puts them at the top level)."""
        fields: dict[str, Any] = {
            "lesson_id": self.payload.lesson_id,
            "lesson": self.payload.lesson,
            "session_id": self.payload.session_id,
            "namespace": self.payload.namespace,
            "step": self.step,
            "outcome": self.outcome.value,
            "duration_s": round(self.duration, 3),
        }
        optional = {
            "retry_in_s": None if self.retry_in is None else round(self.retry_in, 3),
            "error": self.error,
            "reason": self.reason,
            "why": self.why,
            "next": list(self.next)
            if self.outcome is Outcome.DONE and self.step != TEARDOWN_STEP
            else None,
        }
        fields.update({name: value for name, value in optional.items() if value is not None})
        return fields

    def summary(self) -> str:
        """What happened, in words: `done`, `retrying in 0.42s`, `skipped: ...`."""
        if self.outcome is Outcome.RETRY:
            return f"retrying in {self.retry_in or 0:.2f}s"
        if self.why is not None:
            return f"{self.outcome.value}: {self.why}"
        return self.outcome.value


class Observer(Protocol):
    """Told of every run of a step or a teardown (Dramatiq's middleware, in small)."""

    def step_ended(self, event: StepEvent) -> None: ...
