"""An observer that keeps every step event."""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.outcomes import Outcome, StepEvent


@dataclass
class Recorder:
    events: list[StepEvent] = field(default_factory=list)

    def step_ended(self, event: StepEvent) -> None:
        self.events.append(event)

    def outcomes(self) -> list[tuple[str, Outcome]]:
        return [(event.step, event.outcome) for event in self.events]
