"""The time, as an injected dependency: the logic asks a Clock, never the time module.

Production uses `SYSTEM_CLOCK`; fast tests pass a clock of their own and move it forward, so
deadlines, backoffs and expiries are tested without waiting for them.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time, Unix seconds: what records, deadlines and expiries are kept in."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back: for measuring durations."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()
