"""Request counts by verb, resource and status code, as /_sim/stats serves them."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def record(self, verb: str, resource: str, code: int | str) -> None:
        with self._lock:
            self._counts[(verb, resource, str(code))] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self, watches_open: int) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
        by_verb: Counter[str] = Counter()
        by_resource: Counter[str] = Counter()
        by_code: Counter[str] = Counter()
        requests: dict[str, dict[str, dict[str, int]]] = {}
        for (verb, resource, code), count in sorted(counts.items()):
            by_verb[verb] += count
            by_resource[resource] += count
            by_code[code] += count
            requests.setdefault(verb, {}).setdefault(resource, {})[code] = count
        return {
            "total": sum(counts.values()),
            "by_verb": dict(by_verb),
            "by_resource": dict(by_resource),
            "by_code": dict(by_code),
            "requests": requests,
            "watches_open": watches_open,
        }
