"""Run lessonq's benchmarks: `python -m bench [--full] [--only SECTION,...]`.

Prints a Markdown table of every figure next to its target, writes bench/results/latest.json,
and with --full rewrites BENCHMARKS.md (the table, the machine and the exact command, and the
hand-written notes of bench/notes.md, which a rewrite keeps).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import enqueue, fork, gc, overlay, pools, realcluster, throughput, ttr
from bench.harness import REPO, bench_stack, machine

RESULTS = REPO / "bench" / "results" / "latest.json"
REPORT = REPO / "BENCHMARKS.md"
# What the figures mean and where their time goes, written by hand: BENCHMARKS.md gets it after
# the table at every rewrite.
NOTES = REPO / "bench" / "notes.md"


@dataclass(frozen=True)
class Figure:
    """A row of the table: a key of the results, what it is, and its target if it has one."""

    key: str
    label: str
    target: str = ""
    met: Callable[[float, dict[str, Any]], bool] | None = None


FIGURES = [
    Figure("enqueue_per_s", "LessonClient.create, lessons/s"),
    Figure("send_task_per_s", "raw send_task, same payload size, /s"),
    Figure("lpush_per_s", "raw LPUSH, same bytes, /s"),
    Figure("enqueue_vs_send_task", "create vs send_task", ">= 0.8", lambda v, _: v >= 0.8),
    Figure("hop_ms", "one queue hop (send to task start), ms"),
    Figure("round_trip_ms", "one API round trip at 20 ms latency, ms"),
    Figure("ttr_ms_1", "time to ready, 1 endpoint, ms"),
    Figure("ttr_bound_ms_1", "critical-path lower bound, 1 endpoint, ms"),
    Figure("ttr_vs_bound_1", "time to ready vs bound, 1 endpoint"),
    Figure("ttr_ms_4", "time to ready, 4 endpoints, ms"),
    Figure("ttr_bound_ms_4", "critical-path lower bound, 4 endpoints, ms"),
    Figure(
        "ttr_vs_bound_4", "time to ready vs bound, 4 endpoints", "<= 1.2", lambda v, _: v <= 1.2
    ),
    Figure("ttr_ms_16", "time to ready, 16 endpoints, ms"),
    Figure("ttr_bound_ms_16", "critical-path lower bound, 16 endpoints, ms"),
    Figure(
        "ttr_vs_bound_16", "time to ready vs bound, 16 endpoints", "<= 1.5", lambda v, _: v <= 1.5
    ),
    Figure("warm_claim_ms_p50", "claim of a warm pool lesson, create to READY, p50, ms"),
    Figure(
        "warm_claim_ms_p95",
        "claim of a warm pool lesson, create to READY, p95, ms",
        "< 50",
        lambda v, _: v < 50,
    ),
    Figure(
        "warm_claim_misses",
        "creates of the pooled lesson that found no pool lesson",
        "0",
        lambda v, _: v == 0,
    ),
    Figure("cold_ttr_ms", "the same lesson provisioned cold, time to ready, ms"),
    Figure("warm_vs_cold", "cold time to ready vs warm claim p50", ">= 100", lambda v, _: v >= 100),
    Figure("pool_refill_s", "a claim on a full pool until it is full again, s"),
    Figure("placement_recovery_s", "time to ready of a lesson stranded and placed again, s"),
    Figure(
        "placement_recovery_vs_boot",
        "placed again vs its devices' boot and probe",
        "<= 2",
        lambda v, _: v <= 2,
    ),
    Figure("placement_deadline_s", "provisioning deadline a stranded lesson used to wait for, s"),
    Figure("overlay_ttr_ms_16", "time to ready, 16 endpoints spread over 3 nodes (overlay), ms"),
    Figure("bridge_ttr_ms_16", "time to ready, the same lesson on one node (bridge), ms"),
    Figure(
        "overlay_vs_bridge_16",
        "overlay vs bridge, time to ready, 16 endpoints",
        "<= 1.5",
        lambda v, _: v <= 1.5,
    ),
    Figure("agent_pass_ms_300_first", "node agent's first pass, 300 tunnels, ms"),
    Figure("agent_pass_ms_300_idle", "node agent's pass with nothing to change, 300 tunnels, ms"),
    Figure("agent_pass_skipped", "node agent's pass not timed"),
    Figure("lessons_per_s", "throughput, 4-endpoint lessons/s", ">= 10", lambda v, _: v >= 10),
    Figure("api_create_per_s", "kubesim creates/s, the workers' client and parallelism"),
    Figure(
        "throughput_vs_api",
        "API calls/s in the burst vs kubesim's create rate",
        ">= 0.5",
        lambda v, _: v >= 0.5,
    ),
    Figure("ttr_p50_ms", "time to ready in the burst, p50, ms"),
    Figure("ttr_p95_ms", "time to ready in the burst, p95, ms"),
    Figure(
        "api_calls_per_lesson",
        "Kubernetes API calls per lesson",
        "<= objects + 3",
        lambda v, r: v <= r["objects_per_lesson"] + 3,
    ),
    Figure("objects_per_lesson", "objects a lesson needs"),
    Figure("teardowns_per_s", "teardowns/s until every namespace is gone"),
    Figure("worker_rss_mb", "worker peak RSS during the burst, MB", "< 150", lambda v, _: v < 150),
    Figure("gc_live_lessons", "live lessons in the GC registry"),
    Figure("gc_tick_ms", "GC tick, 100 of them expired, ms", "< 10", lambda v, _: v < 10),
    Figure("gc_scan_ms", "full scan of every record, ms"),
    Figure("gc_speedup", "full scan vs tick", ">= 100", lambda v, _: v >= 100),
    Figure("fresh_child_first_task_ms", "first task of a fresh worker child, ms"),
    Figure("fresh_child_first_task_cpu_ms", "first task of a fresh worker child, CPU ms"),
    Figure(
        "fresh_child_cpu_ms",
        "fresh worker child, CPU from fork to end of first task, ms",
        "< 100",
        lambda v, _: v < 100,
    ),
    Figure(
        "fresh_child_imports",
        "modules a fresh child's first task imports",
        "0",
        lambda v, _: v == 0,
    ),
    Figure("fresh_child_page_faults", "page faults from fork to end of first task"),
    Figure("warm_task_ms", "the same tasks in a warm child, ms"),
    Figure("warm_task_cpu_ms", "the same tasks in a warm child, CPU ms"),
    Figure("fresh_step_ms", "step run time in the record, fresh children, ms"),
    Figure("warm_step_ms", "step run time in the record, warm children, ms"),
    Figure("real_ttr_ms_4", "time to ready, 4 endpoints, real control plane v1.20.2, ms"),
    Figure("sim_ttr_ms_4", "time to ready, 4 endpoints, kubesim, same boot and probe, ms"),
    Figure("real_vs_sim_ttr_4", "real control plane vs kubesim, time to ready"),
    Figure("real_calls_to_ready_4", "API calls to READY, real control plane (audit log)"),
    Figure("sim_calls_to_ready_4", "API calls to READY, kubesim"),
    Figure("real_calls_teardown_4", "API calls of a teardown until GONE, real control plane"),
    Figure("sim_calls_teardown_4", "API calls of a teardown until GONE, kubesim"),
    Figure("real_skipped", "real control plane section skipped"),
]

SECTIONS: dict[str, Callable[[Path, bool], dict[str, Any]]] = {
    "enqueue": lambda workdir, quick: _with_stack(workdir, quick, enqueue.run),
    "ttr": ttr.run,
    "pools": pools.run,
    "overlay": overlay.run,
    "throughput": throughput.run,
    "gc": gc.run,
    "fork": fork.run,
    "real": realcluster.run,
}


def _with_stack(workdir: Path, quick: bool, run: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    with bench_stack(workdir, []) as stack:
        return run(stack, quick)


def table(results: dict[str, Any]) -> str:
    lines = ["| figure | value | target | |", "| --- | ---: | --- | --- |"]
    for figure in FIGURES:
        if figure.key not in results:
            continue
        value = results[figure.key]
        verdict = ""
        if figure.met is not None:
            verdict = "met" if figure.met(value, results) else "**missed**"
        lines.append(f"| {figure.label} (`{figure.key}`) | {value} | {figure.target} | {verdict} |")
    return "\n".join(lines)


def write_report(results: dict[str, Any], command: str) -> None:
    info = results["machine"]
    steps = {k: v for k, v in results.items() if k.startswith("ttr_steps_")}
    REPORT.write_text(
        "# Benchmarks\n\n"
        f"Measured by `{command}` on {time.strftime('%Y-%m-%d', time.gmtime())}: "
        f"{info['cores']} cores, {info['memory']}, Python {info['python']}, Redis "
        f"{info['redis']} ({info['platform']}).\n\n"
        "Everything runs on a real Redis, real Celery worker processes and kubesim in its own "
        "process, except the `real_*` rows: a real control plane (kube-apiserver, "
        "kube-controller-manager and kube-scheduler v1.20.2 on etcd) with kubesim's nodes; see "
        "`bench/` for what each figure measures and how the bounds are computed.\n\n"
        f"{table(results)}\n\n"
        f"{NOTES.read_text().strip()}\n\n"
        "Per-step breakdown of a typical time-to-ready run (wait after the step's dependencies "
        "finished, and run time, in ms):\n\n```json\n"
        f"{json.dumps(steps, indent=2)}\n```\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="longer runs; rewrite BENCHMARKS.md")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections to run")
    args = parser.parse_args()
    quick = not args.full
    results: dict[str, Any] = {"machine": machine(), "mode": "quick" if quick else "full"}
    with tempfile.TemporaryDirectory(prefix="lessonq-bench-") as tmp:
        for name in args.only.split(","):
            started = time.monotonic()
            workdir = Path(tmp) / name
            workdir.mkdir()
            results.update(SECTIONS[name](workdir, quick))
            print(f"{name}: {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    if args.full:
        write_report(results, "make bench-full")
        print(f"\nwrote {REPORT.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
