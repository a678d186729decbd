"""Throughput: 200 lessons of 4 endpoints submitted at once to one worker (concurrency 2).

Then the same 200 torn down, and the worker's peak RSS. kubesim answers without added latency
and boots containers in about half a second, so the worker and its API calls are what is
measured.

Last, the same kubesim's own create rate with the workers' client and parallelism
(bench/capacity.py): `throughput_vs_api` is the share of it the burst's API calls used, a figure
that, unlike lessons/s, does not scale with the machine's speed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.capacity import api_create_rate
from bench.harness import PeakRss, bench_stack, median, percentile, wait_settled
from bench.lessons import ring_lesson
from lessons.state import LessonState
from lessons.steps import Desired, Step, all_manifests

LESSONS = 200
ENDPOINTS = 4
# Worker processes (the worker's --concurrency), each with settings.api_parallelism API threads.
WORKER_PROCESSES = 2

# Ten nodes: 800 pods do not fit on three (a kubelet takes at most 110).
SIM_ARGS = [
    "--nodes",
    ",".join(f"node-{i}" for i in range(1, 11)),
    "--time-scale",
    "1",
    "--probe-seconds",
    "0.2",
    "--namespace-delete-seconds",
    "0.5",
    "--image-profiles",
    json.dumps([{"pattern": "*", "boot_seconds": 0.5, "jitter_seconds": 0.2}]),
]


def _api_calls(stats: dict[str, Any]) -> int:
    return int(stats["total"])


def run(workdir: Path, quick: bool) -> dict[str, Any]:
    lesson = ring_lesson(ENDPOINTS)
    with bench_stack(workdir, SIM_ARGS) as stack:
        worker = stack.start_worker("bench", concurrency=WORKER_PROCESSES)
        client = stack.client()
        # One lesson first, so the worker's processes are warm when the burst arrives.
        (warm,) = wait_settled(client, [client.create(lesson, "warm").id], timeout=60)
        client.teardown(warm.id)
        wait_settled(client, [warm.id], timeout=60)
        objects = len(all_manifests(Desired(client.registry.plan(warm.id))))

        stats_before = stack.sim_stats()
        started = time.time()
        with PeakRss(worker.pid) as memory:
            ids = [client.create(lesson, f"burst-{i}").id for i in range(LESSONS)]
            ready = wait_settled(client, ids, timeout=600)
        failed = [r for r in ready if r.state is not LessonState.READY]
        if failed:
            raise RuntimeError(f"{len(failed)} lessons did not get ready: {failed[0].error}")
        finished = max(r.ready_at or 0 for r in ready)
        stats_burst = stack.sim_stats()
        calls = _api_calls(stats_burst) - _api_calls(stats_before)
        by_verb = {
            verb: round((count - stats_before["by_verb"].get(verb, 0)) / LESSONS, 2)
            for verb, count in stats_burst["by_verb"].items()
            if count > stats_before["by_verb"].get(verb, 0)
        }
        ttrs = [(r.ready_at or 0) - r.created_at for r in ready]
        step_run_ms = {
            step.value: round(median((r.steps[step].seconds or 0) * 1000 for r in ready), 1)
            for step in Step
        }

        teardown_started = time.time()
        for lesson_id in ids:
            client.teardown(lesson_id)
        gone = wait_settled(client, ids, timeout=600)
        teardown_finished = max(r.updated_at for r in gone)

        # The API's capacity: the workers idle, the lessons' namespaces gone.
        capacity = api_create_rate(
            stack,
            lesson,
            processes=WORKER_PROCESSES,
            parallelism=stack.settings.api_parallelism,
            seconds=3.0 if quick else 5.0,
        )
        lessons_per_s = LESSONS / (finished - started)
        api_calls_per_s = lessons_per_s * calls / LESSONS
        return {
            "lessons_per_s": round(lessons_per_s, 1),
            "api_create_per_s": round(capacity["api_create_per_s"], 1),
            "throughput_vs_api": round(api_calls_per_s / capacity["api_create_per_s"], 2),
            "throughput_api_calls_per_s": round(api_calls_per_s, 1),
            "throughput_api_calls_by_verb": by_verb,
            "api_capacity_creates": capacity["api_creates"],
            "ttr_p50_ms": round(percentile(ttrs, 0.5) * 1000),
            "ttr_p95_ms": round(percentile(ttrs, 0.95) * 1000),
            "api_calls_per_lesson": round(calls / LESSONS, 1),
            "objects_per_lesson": objects,
            "teardowns_per_s": round(LESSONS / (teardown_finished - teardown_started), 1),
            "worker_rss_mb": round(memory.mb, 1),
            "throughput_step_run_ms": step_run_ms,
        }
