"""What every benchmark stands on: real Redis, kubesim in its own process, real workers."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.local import (
    KubeSimProcess,
    Processes,
    RedisServer,
    redis_server_binary,
    start_redis_and_kubesim,
)
from lessons.state import SETTLED, LessonRecord
from scheduler.client import LessonClient

REPO = Path(__file__).resolve().parents[1]
# Every benchmark's lessonq: its own instance, the example curriculum, no admission limits.
BENCH_SETTINGS: dict[str, Any] = {
    "instance_id": "bench",
    "curriculum": REPO / "examples" / "curriculum",
    "max_live_lessons": 1_000_000,
    "max_lessons_per_session": 1_000_000,
}


@dataclass(kw_only=True)
class BenchStack(Processes):
    redis_server: RedisServer
    sim: KubeSimProcess

    def sim_stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.sim.url.rstrip('/')}/_sim/stats") as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats


@contextmanager
def bench_stack(workdir: Path, sim_args: Sequence[str], **settings: Any) -> Iterator[BenchStack]:
    """Redis (no persistence: we measure lessonq, not the disk) and kubesim; workers on demand."""
    with ExitStack() as stack:
        server, sim = start_redis_and_kubesim(stack, workdir, sim_args, appendonly=False)
        values = {"redis_url": server.url, "kube_url": sim.url, **BENCH_SETTINGS, **settings}
        bench = BenchStack(workdir, values, redis_server=server, sim=sim)
        stack.callback(bench.stop)
        yield bench


def wait_settled(
    client: LessonClient, lesson_ids: Iterable[str], timeout: float
) -> list[LessonRecord]:
    """Wait until every lesson is READY, FAILED or GONE; their records, in order.

    Polls only the states, in one round trip, so the bench's own CPU stays off the measurement.
    """
    ids = list(lesson_ids)
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending:
        states = client.registry.states(pending)
        pending = {lesson_id for lesson_id, state in states.items() if state not in SETTLED}
        if pending and time.monotonic() > deadline:
            example = client.status(next(iter(pending)))
            raise TimeoutError(f"{len(pending)} lessons not settled, e.g. {example}")
        time.sleep(0.1)
    return [client.status(lesson_id) for lesson_id in ids]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


class PeakRss:
    """Samples the RSS of a process and its children in the background; `.mb` is the peak.

    Sampling, rather than reading VmHWM at the end, also sees pool processes that Celery
    replaced during the run.
    """

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self._pid = pid
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.mb = 0.0

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            for pid in (self._pid, *_children(self._pid)):
                self.mb = max(self.mb, _rss_mb(pid))


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(child) for child in (task / "children").read_text().split())
    except OSError:
        pass
    return found


def machine() -> dict[str, str]:
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    redis_version = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "redis": next((w.split("=")[1] for w in redis_version if w.startswith("v=")), "?"),
        "platform": platform.platform(),
    }
