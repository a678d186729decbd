"""Seeded fault injection: per verb and resource, error rates, dropped connections and latency."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass

from kubesim import errors
from kubesim.config import FaultRule


@dataclass(frozen=True)
class Decision:
    latency: float = 0.0
    error: errors.ApiError | None = None
    drop: bool = False


NO_FAULT = Decision()


class Faults:
    def __init__(self, rules: list[FaultRule], seed: int) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules = list(rules)

    @property
    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def set(self, rules: list[FaultRule]) -> None:
        """Replace the rules and restart the seeded sequence, so a run can be repeated."""
        with self._lock:
            self._rules = list(rules)
            self._rng = random.Random(self._seed)

    def decide(self, verb: str, resource: str) -> Decision:
        rules = self._rules
        if not rules:
            return NO_FAULT
        rule = next(
            (
                r
                for r in rules
                if fnmatch.fnmatchcase(verb, r.verb) and fnmatch.fnmatchcase(resource, r.resource)
            ),
            None,
        )
        if rule is None:
            return NO_FAULT
        with self._lock:
            roll = self._rng.random()
        outcomes: list[tuple[float, Decision]] = [
            (rule.error_500, Decision(rule.latency, errors.internal_error("injected fault"))),
            (rule.error_503, Decision(rule.latency, errors.service_unavailable("injected fault"))),
            (rule.error_429, Decision(rule.latency, errors.too_many_requests(rule.retry_after))),
            (rule.drop, Decision(rule.latency, drop=True)),
        ]
        for rate, decision in outcomes:
            if roll < rate:
                return decision
            roll -= rate
        return Decision(rule.latency)
