"""The first task of a fresh worker child, next to the same tasks in a warm one.

Celery forks its pool processes from the worker's main process, and forks a new one whenever one
is replaced (LESSONQ_WORKER_MAX_MEMORY_MB, a crash). Whatever a child must load or compute before
its first task, and its parent did not, every new child pays on a lesson's critical path (a chaos
run once measured 1.4-2.3 s of CPU there). ``workers.prefork`` does that work once, in the parent.

Two workers (concurrency 2, metrics on as in production) provision the same 1-endpoint lessons
against kubesim, two at a time: one with ``--max-tasks-per-child 1``, so that every task is the
first of a fresh child, and one as usual, whose tasks after each child's first are warm. The
probe in ``bench.fork_worker`` times every task in the child that runs it: wall and CPU time, and
for a first task the CPU from the fork to its end (Celery's set-up of the child included), the
modules it imported and the page faults since the fork. The readiness step is left out: its run
time is how long the pods took to boot. The steps' times in the lessons' records (which start
once the runtime is built) are given too.

The fresh worker is slow on the clock for a reason of Celery's own: a replaced child is often
noticed only by the pool's 5-second maintenance timer, hence lessons two at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis

from bench.fork_worker import SAMPLES
from bench.harness import BenchStack, bench_stack, median, wait_settled
from bench.lessons import ring_lesson
from devstack.local import free_port
from lessons.state import LessonRecord, LessonState
from lessons.steps import Step

APP = "bench.fork_worker"
CONCURRENCY = 2
# Pods boot in 0.1 s: the lessons are quick, and every step does the same work in both workers.
SIM_ARGS = ["--time-scale", "0.05"]

Sample = dict[str, Any]


def _provision(stack: BenchStack, prefix: str, count: int) -> list[LessonRecord]:
    """`count` lessons, CONCURRENCY at a time, each until it is ready."""
    client = stack.client()
    lesson = ring_lesson(1)
    records: list[LessonRecord] = []
    for start in range(0, count, CONCURRENCY):
        batch = range(start, min(count, start + CONCURRENCY))
        ids = [client.create(lesson, f"{prefix}-{index}").id for index in batch]
        for record in wait_settled(client, ids, timeout=120):
            if record.state is not LessonState.READY:
                raise RuntimeError(f"lesson {record.id} ended {record.state}: {record.error}")
            records.append(record)
    return records


def _samples(stack: BenchStack) -> list[Sample]:
    """What the probe pushed since the last call, readiness left out."""
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        found = [json.loads(raw) for raw in client.lrange(SAMPLES, 0, -1)]
        client.delete(SAMPLES)
    finally:
        client.close()
    return [sample for sample in found if sample["task"] != Step.READINESS.task_name]


def _median(samples: Iterable[Sample], key: str) -> float:
    values = [float(sample[key]) for sample in samples]
    if not values:
        raise RuntimeError(f"no samples of {key}: did the probe run?")
    return round(median(values), 1)


def _step_ms(records: Iterable[LessonRecord]) -> float:
    return round(
        median(
            (times.seconds or 0.0) * 1000
            for record in records
            for step, times in record.steps.items()
            if step is not Step.READINESS
        ),
        1,
    )


def run(workdir: Path, quick: bool) -> dict[str, Any]:
    lessons = 2 if quick else 8
    with bench_stack(workdir, SIM_ARGS, metrics_port=free_port()) as stack:
        fresh_worker = stack.start_worker(
            "fresh", CONCURRENCY, APP, extra_args=["--max-tasks-per-child", "1"]
        )
        fresh_records = _provision(stack, "fresh", lessons)
        fresh_worker.stop()
        fresh = [sample for sample in _samples(stack) if sample["index"] == 0]

        stack.start_worker("warm", CONCURRENCY, APP)
        _provision(stack, "warmup", CONCURRENCY)
        warm_records = _provision(stack, "warm", lessons)
        ids = {record.id for record in warm_records}
        warm = [s for s in _samples(stack) if s["lesson_id"] in ids and s["index"] > 0]
    return {
        "fresh_child_first_task_ms": _median(fresh, "wall_ms"),
        "fresh_child_first_task_cpu_ms": _median(fresh, "cpu_ms"),
        "fresh_child_cpu_ms": _median(fresh, "cpu_since_fork_ms"),
        "fresh_child_imports": max(int(sample["modules_imported"]) for sample in fresh),
        "fresh_child_page_faults": round(_median(fresh, "page_faults")),
        "warm_task_ms": _median(warm, "wall_ms"),
        "warm_task_cpu_ms": _median(warm, "cpu_ms"),
        "fresh_step_ms": _step_ms(fresh_records),
        "warm_step_ms": _step_ms(warm_records),
        "fork_samples": len(fresh),
    }
