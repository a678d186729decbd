"""Enqueue rate: LessonClient.create for distinct sessions, next to raw send_task and LPUSH.

The three are interleaved in rounds, so the machine's noise falls on all of them alike. The
raw send_task carries a payload as large as the plan `create` stores for the workers, and LPUSH
pushes that many bytes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import redis

from bench.harness import BenchStack, median
from jobs import sending_app
from scheduler.client import LessonClient

LESSON = "snapshot-testing"


def _rate(action: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        action()
    return count / (time.perf_counter() - started)


def run(stack: BenchStack, quick: bool) -> dict[str, Any]:
    client = LessonClient(stack.settings)
    sessions = (f"enqueue-{i}" for i in itertools.count())
    sample = client.plan(LESSON, "size-probe")
    payload = {"plan": sample.model_dump_json()}
    size = len(payload["plan"])
    app = sending_app(stack.settings)
    raw = redis.Redis.from_url(stack.settings.redis_url)
    data = payload["plan"].encode()

    def create() -> object:
        return client.create(LESSON, next(sessions))

    def send() -> object:
        return app.send_task("bench.enqueue", kwargs=payload, queue="bench-enqueue")

    def push() -> object:
        return raw.lpush("bench-lpush", data)

    for action in (create, send, push):  # warm up connections and caches
        _rate(action, 50)
    rounds, count = (5, 300) if quick else (10, 1000)
    rates: dict[str, list[float]] = {"create": [], "send": [], "push": []}
    for _ in range(rounds):
        rates["create"].append(_rate(create, count))
        rates["send"].append(_rate(send, count))
        rates["push"].append(_rate(push, count))
    enqueue, send_task, lpush = (median(rates[k]) for k in ("create", "send", "push"))
    return {
        "enqueue_per_s": round(enqueue),
        "send_task_per_s": round(send_task),
        "lpush_per_s": round(lpush),
        "enqueue_vs_send_task": round(enqueue / send_task, 2),
        "enqueue_payload_bytes": size,
    }
