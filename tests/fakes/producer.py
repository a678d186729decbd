"""A producer that keeps what it is asked to send, in order (Dramatiq's stub broker, in small)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jobs import StepPayload
from lessons.steps import POOL_PRIORITY, TEARDOWN_PRIORITY, Job, Step


@dataclass(frozen=True)
class Message:
    task: str
    kwargs: dict[str, Any]
    priority: int

    @property
    def payload(self) -> StepPayload:
        return StepPayload.model_validate(self.kwargs)


@dataclass
class RecordingProducer:
    sent: list[Message] = field(default_factory=list)
    # What `waiting()` answers: messages queued for a free worker.
    queued: int = 0
    # While set, every call raises it: the broker (Redis) cannot be reached.
    failure: Exception | None = None

    def steps(self, steps: Iterable[Step], payload: StepPayload) -> None:
        steps = list(steps)
        if steps:  # nothing to send reaches no broker
            self._reach()
        for step in steps:
            self.sent.append(Message(step.task_name, payload.kwargs(), step.priority))

    def teardown(self, payload: StepPayload) -> None:
        self._reach()
        self.sent.append(Message(Job.TEARDOWN, payload.kwargs(), TEARDOWN_PRIORITY))

    def teardowns(self, lesson_ids: list[str]) -> None:
        if lesson_ids:
            self._reach()
            self.sent.append(
                Message(Job.TEARDOWN_MANY, {"lesson_ids": lesson_ids}, TEARDOWN_PRIORITY)
            )

    def claimed(self, payload: StepPayload) -> None:
        self._reach()
        self.sent.append(Message(Job.POOL_CLAIMED, payload.kwargs(), POOL_PRIORITY))

    def refill(self) -> None:
        self._reach()
        self.sent.append(Message(Job.POOL_REFILL, {}, POOL_PRIORITY))

    def waiting(self) -> int:
        self._reach()
        return self.queued

    def take(self) -> list[Message]:
        """Everything sent so far, and forget it."""
        taken, self.sent = self.sent, []
        return taken

    def _reach(self) -> None:
        if self.failure is not None:
            raise self.failure
