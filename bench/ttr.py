"""Time to ready for lessons of 1, 4 and 16 endpoints, next to the critical-path lower bound.

kubesim answers every call after a fixed latency L and boots every container in a fixed time B,
its readiness probe passing P later. The longest chain of work that cannot overlap is: the
message to the namespace step, the namespace create, the message to the networks step, the
link creates, the message to the pods step, the pod creates, then the boot and the probe (the
readiness step's message, list and watch happen while the pods boot). So the lower bound is
3 queue hops + 3 round trips + B + P, with the hop (send_task to task start on an idle worker)
and the round trip (a GET from this process) measured in the same run.
"""

from __future__ import annotations

import json
import time
from typing import Any

from kubernetes import client as k8s

from bench.harness import BenchStack, bench_stack, median, wait_settled
from bench.hop import QUEUE as HOP_QUEUE
from bench.hop import measure_hop
from bench.lessons import ring_lesson
from lessons.state import LessonRecord, LessonState
from lessons.steps import Step

API_LATENCY = 0.02
BOOT = 1.0
PROBE = 0.5
SIZES = (1, 4, 16)
CHAIN_HOPS = 3
CHAIN_ROUND_TRIPS = 3

SIM_ARGS = [
    "--time-scale",
    "1",
    "--api-latency",
    str(API_LATENCY),
    "--probe-seconds",
    str(PROBE),
    "--image-profiles",
    json.dumps([{"pattern": "*", "boot_seconds": BOOT, "jitter_seconds": 0}]),
]


def _round_trip(stack: BenchStack, count: int = 20) -> float:
    configuration = k8s.Configuration()
    configuration.host = stack.sim.url.rstrip("/")
    with k8s.ApiClient(configuration) as api:
        core = k8s.CoreV1Api(api)
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            core.read_namespace("default", _preload_content=False)
            samples.append(time.perf_counter() - started)
    return median(samples)


def _breakdown(record: LessonRecord) -> dict[str, dict[str, float]]:
    """Per step: how long it waited after its dependencies, and how long it ran (ms)."""
    result = {}
    for step, times in record.steps.items():
        ready_to_run = max(
            (record.steps[dep].finished_at or 0.0 for dep in Step(step).needs),
            default=record.created_at,
        )
        result[step.value] = {
            "wait_ms": round(((times.started_at or 0) - ready_to_run) * 1000, 1),
            "run_ms": round((times.seconds or 0) * 1000, 1),
        }
    return result


def run(workdir: Any, quick: bool) -> dict[str, Any]:
    repeats = 2 if quick else 7
    results: dict[str, Any] = {}
    with bench_stack(workdir, SIM_ARGS) as stack:
        stack.start_worker("bench", concurrency=2)
        stack.start_worker("hop", concurrency=1, app="bench.hop", queue=HOP_QUEUE)
        client = stack.client()
        hop = measure_hop(stack.settings)
        round_trip = _round_trip(stack)
        results["hop_ms"] = round(hop * 1000, 2)
        results["round_trip_ms"] = round(round_trip * 1000, 2)
        for size in SIZES:
            lesson = ring_lesson(size)
            times, breakdowns = [], []
            for attempt in range(repeats + 1):  # the first run warms the worker up
                record = client.create(lesson, f"ttr-{size}-{attempt}")
                (ready,) = wait_settled(client, [record.id], timeout=120)
                if ready.state is not LessonState.READY:
                    raise RuntimeError(f"lesson of {size} ended {ready.state}: {ready.error}")
                client.teardown(record.id)
                if attempt:
                    times.append((ready.ready_at or 0) - ready.created_at)
                    breakdowns.append(_breakdown(ready))
            ttr = median(times)
            bound = CHAIN_HOPS * hop + CHAIN_ROUND_TRIPS * round_trip + BOOT + PROBE
            results[f"ttr_ms_{size}"] = round(ttr * 1000)
            results[f"ttr_bound_ms_{size}"] = round(bound * 1000)
            results[f"ttr_vs_bound_{size}"] = round(ttr / bound, 2)
            typical = min(range(len(times)), key=lambda i: abs(times[i] - ttr))
            results[f"ttr_steps_{size}"] = breakdowns[typical]
    return results
