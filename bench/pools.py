"""Warm pools and placement: a claim against a cold provisioning, a refill, and a lesson stranded
on a nearly full node and placed again.

One stack: kubesim with the ttr section's latency, boot and probe times (every call 20 ms, every
container 1.0 s to boot and its probe 0.5 s after), three nodes of which node-1 allocates only 5
pods; one worker of 4 processes (two, as in the ttr section, refill too slowly for the claims'
rate; see POOL_SIZE). In order:

- warm-up: one lesson, so the worker's processes are warm (not counted);
- placement: filler pods pinned with spec.nodeName leave node-1 the emptiest node with room for
  3 pods (2 of 5), so the first pod of a 4-endpoint lesson lands there and the other three
  cannot follow. `placement_recovery_s` is its time to READY (from calling `create`); its
  record must say it avoided node-1. `placement_recovery_vs_boot` divides it by its devices'
  boot and probe time, the least any placement can take; `placement_deadline_s` is the
  provisioning deadline it used to wait for;
- cold: `linux-basics` (one Linux box) created with no pool for it, one at a time on the idle
  stack, from calling `create` to READY: `cold_ttr_ms`, the median;
- refill: its pool set to POOL_SIZE and filled; then a claim on the full, quiet pool, until
  the pool holds `size` READY lessons again (`pool_refill_s`, the median): the claim's own
  follow-up (labelling the lesson with its session) and a whole cold provisioning;
- warm: claims at CLAIM_RATE, each a new session, timed from calling `create` to its answer,
  READY. Only claims count in `warm_claim_ms_p50`/`_p95`; a create that found no READY pool
  lesson is a miss (`warm_claim_misses`), provisioned cold. Each claim has the workers label its
  objects and refill the pool while the next claims arrive, so the claims are timed on a busy
  stack. `warm_vs_cold` = `cold_ttr_ms` / `warm_claim_ms_p50`.

Quick mode: 3 cold lessons, 1 refill, 100 claims; --full: 7, 5 and 300.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import ttr
from bench.harness import bench_stack, median, percentile, wait_settled
from bench.lessons import ring_lesson
from bench.ttr import BOOT, PROBE
from config.settings import Settings
from kube import Kube
from lessons.pool import PoolStatus
from lessons.state import LessonRecord, LessonState
from scheduler.client import LessonClient

SLUG = "linux-basics"
# 5 claims/s, each starting a refill that takes 3-4 s on the busy worker: 15-20 on the way at
# any time, so 30 keep 10 or so READY. Two worker processes refilled about 2 lessons/s here, and
# a pool of 20 ran dry after some 60 claims; four keep up.
POOL_SIZE = 30
CLAIM_RATE = 5.0
WORKER_PROCESSES = 4
PLACED_ENDPOINTS = 4
# node-1 holds 5 pods; fillers leave it the emptiest node (2 of 5), so a lesson of four strands
# there. The others hold plenty: the claimed lessons stay up until the end.
CROWDED = "node-1"
FILLERS = {"node-1": 2, "node-2": 3, "node-3": 3}

# The ttr section's cluster (its API latency, boot and probe), with node-1 small.
SIM_ARGS = [
    *ttr.SIM_ARGS,
    "--allocatable",
    "pods:1000",
    "--node-allocatable",
    f"{CROWDED}=pods:5",
]


def _pool(client: LessonClient) -> PoolStatus:
    return next(status for status in client.pools() if status.slug == SLUG)


def _wait_full(client: LessonClient, timeout: float, poll: float = 0.01) -> PoolStatus:
    """Poll the pool until it holds `size` READY lessons and none on the way."""
    deadline = time.monotonic() + timeout
    while True:
        status = _pool(client)
        if status.size and status.ready == status.size and not status.provisioning:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"pool not full after {timeout}s: {status}")
        time.sleep(poll)


def _ready(client: LessonClient, lesson_id: str, timeout: float = 60) -> LessonRecord:
    (record,) = wait_settled(client, [lesson_id], timeout=timeout)
    if record.state is not LessonState.READY:
        raise RuntimeError(f"lesson {lesson_id} ended {record.state}: {record.error}")
    return record


def _fill_nodes(settings: Settings) -> None:
    """Pods pinned to each node with spec.nodeName (the scheduler leaves them there)."""
    kube = Kube.from_settings(settings)
    try:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fillers"}})
        for node, count in FILLERS.items():
            for index in range(count):
                kube.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": f"{node}-{index}", "namespace": "fillers"},
                        "spec": {
                            "nodeName": node,
                            "containers": [{"name": "app", "image": "filler:1"}],
                        },
                    }
                )
    finally:
        kube.close()


def _placement(client: LessonClient) -> dict[str, Any]:
    _fill_nodes(client.settings)
    started = time.time()
    record = client.create(ring_lesson(PLACED_ENDPOINTS), "placement")
    ready = _ready(client, record.id)
    if ready.avoided_nodes != [CROWDED]:
        raise RuntimeError(f"the lesson was not placed again away from {CROWDED}: {ready}")
    client.teardown(record.id)
    recovery = (ready.ready_at or 0) - started
    return {
        "placement_recovery_s": round(recovery, 2),
        "placement_recovery_vs_boot": round(recovery / (BOOT + PROBE), 2),
        "placement_deadline_s": client.settings.provision_timeout,
        "placement_avoided_nodes": ready.avoided_nodes,
    }


def _cold(client: LessonClient, repeats: int) -> float:
    times = []
    for attempt in range(repeats):
        started = time.time()
        record = client.create(SLUG, f"cold-{attempt}")
        if record.pooled:
            raise RuntimeError(f"{SLUG} has a pool: the cold lesson was claimed")
        ready = _ready(client, record.id)
        times.append((ready.ready_at or 0) - started)
        client.teardown(record.id)
    return median(times)


def _claims(client: LessonClient, count: int) -> tuple[list[float], int]:
    """`count` creates at CLAIM_RATE, each a new session: the claims' latencies, the misses."""
    latencies, misses = [], 0
    start = time.monotonic()
    for index in range(count):
        pause = start + index / CLAIM_RATE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        began = time.perf_counter()
        record = client.create(SLUG, f"claim-{index}")
        took = time.perf_counter() - began
        if record.pooled and record.state is LessonState.READY:
            latencies.append(took)
        else:
            misses += 1
    return latencies, misses


def _refill(client: LessonClient, index: int) -> float:
    """A claim on a full, quiet pool: seconds until it is full again."""
    _wait_full(client, timeout=60)
    time.sleep(0.5)  # the last claim's labelling done, the worker idle
    began = time.monotonic()
    record = client.create(SLUG, f"refill-{index}")
    if not record.pooled:
        raise RuntimeError("a claim on a full pool missed")
    _wait_full(client, timeout=60)
    return time.monotonic() - began


def run(workdir: Path, quick: bool) -> dict[str, Any]:
    claims = 100 if quick else 300
    colds = 3 if quick else 7
    refills = 1 if quick else 5
    with bench_stack(workdir, SIM_ARGS) as stack:
        stack.start_worker("bench", concurrency=WORKER_PROCESSES)
        client = stack.client()
        warm = client.create(ring_lesson(1), "warm-up")
        client.teardown(_ready(client, warm.id).id)

        results = _placement(client)
        cold = _cold(client, colds)

        client.set_pools({SLUG: POOL_SIZE})
        refill = median(_refill(client, index) for index in range(refills))
        _wait_full(client, timeout=60)
        before = _pool(client)
        latencies, misses = _claims(client, claims)
        after = _pool(client)

    p50 = percentile(latencies, 0.5)
    return {
        **results,
        "cold_ttr_ms": round(cold * 1000),
        "warm_claims": len(latencies),
        "warm_claim_ms_p50": round(p50 * 1000, 1),
        "warm_claim_ms_p95": round(percentile(latencies, 0.95) * 1000, 1),
        "warm_claim_ms_max": round(max(latencies) * 1000, 1),
        "warm_claim_misses": misses,
        "warm_claim_pool_misses": after.misses - before.misses,
        "warm_vs_cold": round(cold / p50),
        "pool_size": POOL_SIZE,
        "pool_claim_rate": CLAIM_RATE,
        "pool_worker_processes": WORKER_PROCESSES,
        "pool_refill_s": round(refill, 2),
    }
