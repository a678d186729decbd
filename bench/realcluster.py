"""Time to READY of a 4-endpoint lesson on the real control plane (kube-apiserver,
controller manager and scheduler v1.20.2, kubesim's nodes on it) next to the same on kubesim, at
the same boot and probe times and with no added API latency; and the API calls per lesson on
each, to READY and for the teardown (until the namespace is gone).

On the real control plane the calls are the worker ServiceAccount's, from the apiserver's audit
log; on kubesim, every request it served. Without the binaries (devstack.kube_assets) the section
reports why it was skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import BENCH_SETTINGS, bench_stack, median, wait_settled
from bench.lessons import ring_lesson
from bench.ttr import BOOT, PROBE  # the same boot and probe as the kubesim time-to-ready runs
from devstack.kube_assets import assets_dir, missing
from devstack.local import Processes, RedisServer
from devstack.realcluster import real_cluster
from kubesim.config import ImageProfile, SimConfig
from lessons.state import LessonState
from scheduler.client import LessonClient

ENDPOINTS = 4
NODES = ["node-1", "node-2", "node-3"]
SIM_ARGS = [
    "--time-scale",
    "1",
    "--probe-seconds",
    str(PROBE),
    "--image-profiles",
    json.dumps([{"pattern": "*", "boot_seconds": BOOT, "jitter_seconds": 0}]),
]


def _measure(
    client: LessonClient, repeats: int, calls: Callable[[], int], prefix: str
) -> dict[str, Any]:
    lesson = ring_lesson(ENDPOINTS)
    times, to_ready, teardown = [], [], []
    for attempt in range(repeats + 1):  # the first run warms the worker up
        before = calls()
        record = client.create(lesson, f"{prefix}-{attempt}")
        (ready,) = wait_settled(client, [record.id], timeout=120)
        if ready.state is not LessonState.READY:
            raise RuntimeError(f"{prefix}: lesson ended {ready.state}: {ready.error}")
        at_ready = calls()
        client.teardown(record.id)
        (gone,) = wait_settled(client, [record.id], timeout=180)
        if gone.state is not LessonState.GONE:
            raise RuntimeError(f"{prefix}: teardown ended {gone.state}: {gone.teardown_error}")
        if attempt:
            times.append((ready.ready_at or 0) - ready.created_at)
            to_ready.append(at_ready - before)
            teardown.append(calls() - at_ready)
    return {
        f"{prefix}_ttr_ms_4": round(median(times) * 1000),
        f"{prefix}_calls_to_ready_4": median(to_ready),
        f"{prefix}_calls_teardown_4": median(teardown),
    }


def _on_real_cluster(workdir: Path, repeats: int, directory: Path) -> dict[str, Any]:
    sim = SimConfig(
        nodes=NODES,
        time_scale=1.0,
        probe_seconds=PROBE,
        image_profiles=[ImageProfile(pattern="*", boot_seconds=BOOT, jitter_seconds=0)],
    )
    with real_cluster(directory, workdir / "real", sim) as cluster:
        redis = RedisServer(workdir / "real-redis", appendonly=False).start()
        values = {**BENCH_SETTINGS, "redis_url": redis.url, "kubeconfig": cluster.worker_kubeconfig}
        stack = Processes(workdir, values)
        try:
            stack.start_worker("real", concurrency=2)
            return _measure(stack.client(), repeats, lambda: len(cluster.worker_requests()), "real")
        finally:
            stack.stop()
            redis.stop()


def _on_kubesim(workdir: Path, repeats: int) -> dict[str, Any]:
    with bench_stack(workdir / "sim", SIM_ARGS) as stack:
        stack.start_worker("sim", concurrency=2)
        return _measure(stack.client(), repeats, lambda: int(stack.sim_stats()["total"]), "sim")


def run(workdir: Path, quick: bool) -> dict[str, Any]:
    directory = assets_dir()
    lacking = missing(directory)
    if lacking:
        return {"real_skipped": f"{directory} lacks {', '.join(lacking)}"}
    repeats = 1 if quick else 5  # a real teardown waits 10-15 s for the namespace controller
    results = {**_on_real_cluster(workdir, repeats, directory), **_on_kubesim(workdir, repeats)}
    results["real_vs_sim_ttr_4"] = round(results["real_ttr_ms_4"] / results["sim_ttr_ms_4"], 2)
    return results
