"""GC with 100,000 live lessons of which 100 are expired: one tick, next to a full scan.

Quick mode fills 20,000 (filling takes most of the section's time); the tick's cost does not
depend on it, the scan's does.

The tick is `tasks.gc.collect` (expired, overdue and stalled lessons, found through the
registry's indexes, the expired ones moved to TEARING_DOWN and their teardown enqueued). The
full scan reads every record's expiry, which is what GC would cost without the index.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.harness import median
from config.settings import load_settings
from scheduler.client import LessonClient
from scheduler.registry import LessonRegistry
from scheduler.state import LIVE as LIVE_STATES
from tasks.gc import collect
from tasks.runtime import Runtime
from workers.app import create_app
from workers.local import RedisServer

LIVE = 100_000
LIVE_QUICK = 20_000
EXPIRED = 100


def _fill(registry: LessonRegistry, client: LessonClient, prefix: str, count: int) -> None:
    template = client.plan("linux-basics", "gc-template")

    def create(index: int) -> None:
        registry.create(
            template.model_copy(
                update={"lesson_id": f"{prefix}{index:012x}", "session_id": f"{prefix}-{index}"}
            )
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(count)))


def full_scan(registry: LessonRegistry, now: float) -> list[str]:
    """Every record's expiry read with SCAN, the way GC would work without an index."""
    redis = registry.redis
    expired = []
    keys = list(redis.scan_iter(match=registry.record_key("*"), count=1000))
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        pipe = redis.pipeline(transaction=False)
        for key in batch:
            pipe.hmget(key, ["id", "state", "expires_at"])
        for lesson_id, state, expires_at in pipe.execute():
            if state in LIVE_STATES and float(expires_at) <= now:
                expired.append(lesson_id)
    return expired


def run(workdir: Path, quick: bool) -> dict[str, Any]:
    server = RedisServer(workdir / "redis-gc", appendonly=False).start()
    try:
        values = {
            "redis_url": server.url,
            "kube_url": "http://127.0.0.1:9",
            "instance_id": "gc",
            "max_live_lessons": 10 * LIVE,
            "max_lessons_per_session": 10 * LIVE,
        }
        settings = load_settings(**values)
        short = load_settings(**{**values, "lesson_ttl": 0.001})
        client = LessonClient(settings)
        live = LIVE_QUICK if quick else LIVE
        _fill(client.registry, client, "a", live - EXPIRED)
        runtime = Runtime.build(settings, create_app(settings))
        ticks, scans = [], []
        for round_ in range(3 if quick else 7):
            _fill(LessonRegistry.from_settings(short), client, f"e{round_}", EXPIRED)
            now = time.time()
            started = time.perf_counter()
            scanned = full_scan(client.registry, now)
            scans.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = collect(runtime, now)
            ticks.append(time.perf_counter() - started)
            if len(result.expired) != EXPIRED or len(scanned) != EXPIRED:
                raise RuntimeError(f"tick found {len(result.expired)}, scan {len(scanned)}")
        tick, scan = median(ticks), median(scans)
        return {
            "gc_tick_ms": round(tick * 1000, 2),
            "gc_scan_ms": round(scan * 1000, 1),
            "gc_speedup": round(scan / tick),
            "gc_live_lessons": live,
        }
    finally:
        server.stop()
