"""GC with 100,000 live lessons of which 100 are expired: one tick, next to a full scan.

The tick is `tasks.gc.collect` (expired, overdue and stalled lessons, found through the
registry's indexes, the expired ones moved to TEARING_DOWN and their teardown enqueued). The
full scan reads every record's expiry, which is what GC would cost without the index.
"""

from __future__ import annotations

import itertools
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from redis import Redis

from bench.harness import median
from config.settings import load_settings
from devstack.local import RedisServer
from jobs import sending_app
from lessons.state import LIVE as LIVE_STATES
from registry import LessonRegistry
from scheduler.client import LessonClient
from tasks.gc import collect
from tasks.runtime import Runtime

LIVE = 100_000
EXPIRED = 100


def _fill(values: dict[str, Any], prefix: str, start: int, stop: int) -> None:
    """Register lessons `start`..`stop` with these settings (from a thread pool)."""
    client = LessonClient(load_settings(**values))
    template, files = client.prepare("linux-basics", "gc-template")

    def create(index: int) -> None:
        client.registry.create(
            template.model_copy(
                update={"lesson_id": f"{prefix}{index:012x}", "session_id": f"{prefix}-{index}"}
            ),
            files=files,
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(start, stop)))


def _fill_fast(values: dict[str, Any], prefix: str, count: int) -> None:
    """`_fill` in one process per core: registering is bound by the client's CPU."""
    cores = os.cpu_count() or 1
    bounds = [count * i // cores for i in range(cores + 1)]
    with ProcessPoolExecutor(cores) as pool:
        futures = [pool.submit(_fill, values, prefix, a, b) for a, b in itertools.pairwise(bounds)]
        for future in futures:
            future.result()


def full_scan(registry: LessonRegistry, redis: Redis, now: float) -> list[str]:
    """Every record's expiry read with SCAN, the way GC would work without an index."""
    expired = []
    keys = list(redis.scan_iter(match=registry.keys.record("*"), count=1000))
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
        client = LessonClient(settings)
        # Connected before the first timed scan, as GC's own connection is before a tick.
        redis = Redis.from_url(server.url, decode_responses=True)
        redis.ping()
        live = LIVE
        _fill_fast(values, "a", live - EXPIRED)
        runtime = Runtime.build(settings, sending_app(settings))
        ticks, scans = [], []
        for round_ in range(3 if quick else 7):
            _fill({**values, "lesson_ttl": 0.001}, f"e{round_}", 0, EXPIRED)
            # A tick a second later: the last lessons registered have expired too (at the
            # instant they were made, the very last could still have a microsecond to go).
            now = time.time() + 1
            started = time.perf_counter()
            scanned = full_scan(client.registry, redis, now)
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
