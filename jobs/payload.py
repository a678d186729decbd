"""The keyword arguments of every provisioning and teardown task.

The payload names the lesson, session and namespace so that Flower shows what each task is
working on; the plan itself stays in the lesson's record in Redis.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lessons.state import LessonRecord

# The fields that name the lesson; the others are one step's own counters.
IDENTITY = {"lesson_id", "lesson", "session_id", "namespace"}


class StepPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lesson_id: str
    lesson: str
    # None: a warm-pool lesson no session has claimed yet.
    session_id: str | None = None
    namespace: str
    # Consecutive transient failures, for the backoff; a step that makes progress resets it.
    attempt: int = 0
    # When the readiness step first saw every endpoint ready (the lesson's readyDelay runs
    # from there), and how many times it has looked so far.
    ready_since: float | None = None
    polls: int = 0

    @classmethod
    def of(cls, record: LessonRecord) -> StepPayload:
        return cls(
            lesson_id=record.id,
            lesson=record.lesson,
            session_id=record.session_id,
            namespace=record.namespace,
        )

    def fresh(self) -> StepPayload:
        """The same lesson with the per-step counters cleared, for the next step."""
        return StepPayload(**self.model_dump(include=IDENTITY))

    def kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude_defaults=True)
