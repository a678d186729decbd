"""Timestamps in the apiserver's format, and seeded identifiers."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import UTC, datetime

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generateName alphabet


_last: tuple[int, str] = (-1, "")


def timestamp(at: float | None = None) -> str:
    """RFC 3339 with second precision, as metav1.Time serialises."""
    global _last
    second = int(time.time() if at is None else at)
    cached = _last
    if cached[0] != second:  # formatting is costly and most stamps share their second
        cached = _last = (
            second,
            datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    return cached[1]


def parse_timestamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


class Ids:
    """Seeded, thread-safe source of uids, name suffixes, jitter and MAC addresses."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def uid(self) -> str:
        with self._lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def suffix(self, length: int = 5) -> str:
        with self._lock:
            return "".join(self._rng.choice(_NAME_CHARS) for _ in range(length))

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)

    def random(self) -> float:
        with self._lock:
            return self._rng.random()

    def hex(self, length: int) -> str:
        with self._lock:
            return "".join(self._rng.choice("0123456789abcdef") for _ in range(length))

    def mac(self) -> str:
        with self._lock:
            octets = [0x02] + [self._rng.randrange(256) for _ in range(5)]  # locally administered
        return ":".join(f"{o:02x}" for o in octets)
