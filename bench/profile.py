"""Where the time of the throughput burst goes: `python -m bench.profile [--wall]`.

The throughput bench's burst (bench/throughput.py: the same kubesim, one worker of two pool
processes, the same 200 lessons), measured two ways at once:

- the CPU time of every process in the burst, from /proc: the worker's main process (Celery's
  consumer), its pool children (the tasks), kubesim, redis-server and this process (the
  client that creates the lessons and polls their states), and the whole machine's;
- py-spy samples (non-blocking, so the processes are not paused) of the worker, its children
  and kubesim, each stack sorted by the code it was in: Celery/kombu messaging, the Redis
  client, the Kubernetes client (kube.edge, kubernetes, urllib3, http.client, JSON), lessonq's
  step code; for kubesim its HTTP handling, its validation and its simulated cluster. By
  default only the thread holding the GIL is sampled (`--gil`: Python CPU time); with --wall,
  every sample of the pool children's main threads, idle or not (where a task's wall time
  goes, waiting for the next task included).

Needs py-spy (`pip install py-spy` into the venv; not a dependency of the project).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis

from bench.harness import bench_stack, wait_settled
from bench.lessons import ring_lesson
from bench.throughput import ENDPOINTS, SIM_ARGS, WORKER_PROCESSES

TICKS = os.sysconf("SC_CLK_TCK")

LESSONQ = ("config", "lessons", "registry", "jobs", "kube", "scheduler", "tasks", "workers")
MESSAGING = ("celery", "kombu", "billiard", "amqp", "vine")
KUBE_CLIENT = ("kubernetes", "urllib3", "http/client", "json", "kube/edge", "kube/client")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _machine_busy() -> float:
    """CPU seconds every core of the machine spent busy (not idle, not waiting for I/O)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _processes(worker_pid: int) -> dict[str, list[int]]:
    """The burst's processes by role; this one's own children are redis, kubesim, the worker."""
    roles: dict[str, list[int]] = {"bench client (this process)": [os.getpid()]}
    for pid in _children(os.getpid()):
        line = _cmdline(pid)
        if "redis-server" in line:
            roles["redis-server"] = [pid]
        elif "kubesim" in line:
            roles["kubesim"] = [pid]
    roles["worker main (Celery consumer)"] = [worker_pid]
    roles["worker pool children (tasks)"] = _children(worker_pid)
    return roles


def _package(frame: str) -> str:
    """A py-spy frame `function (path/to/file.py:line)` as the path from site-packages or the
    repository, e.g. `kombu/transport/redis.py`."""
    path = frame.rsplit("(", 1)[-1].rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _starts(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith((p + "/", p + ".")) for p in prefixes)


def worker_category(frames: list[str]) -> str:
    paths = [_package(f) for f in frames]
    ours = [i for i, p in enumerate(paths) if _starts(p, LESSONQ)]
    if ours:
        below = paths[ours[-1] :]
        # A step waiting for the Reconciler's threads waits for its API calls.
        if any(_starts(p, KUBE_CLIENT) for p in below) or below[0] == "tasks/reconcile.py":
            return "Kubernetes client: kube.edge, kubernetes, urllib3, http.client, JSON"
        if any(_starts(p, ("redis",)) for p in below):
            return "Redis client: lessonq's registry"
        if any(_starts(p, MESSAGING) for p in below):
            return "Celery/kombu: sending the next steps"
        return "step code and models (lessonq's own, pydantic)"
    if any(_starts(p, ("redis",)) for p in paths):
        return "Celery/kombu: the Redis transport (redis-py)"
    if any(p.startswith("celery/app/trace") for p in paths):
        return "Celery: task protocol around the task (trace, ack, retry)"
    if any(_starts(p, MESSAGING) for p in paths):
        return "Celery/billiard: the pool, handing tasks over (in --wall: waiting for one)"
    return "other (interpreter, threading)"


def kubesim_category(frames: list[str]) -> str:
    paths = [_package(f) for f in frames]
    served = [p for p in paths if _starts(p, ("kubesim",))]
    if any(p.startswith(("kubesim/loop", "kubesim/kubelet", "kubesim/scheduler")) for p in served):
        return "simulated cluster: scheduler, kubelets, controllers"
    if any(
        "validation" in p or p.startswith(("kubesim/schemas", "kubesim/openapi")) for p in served
    ) or any(_starts(p, ("kubernetes_validate", "jsonschema", "referencing")) for p in paths):
        return "validating objects (schemas)"
    if any(p.startswith(("kubesim/store", "kubesim/watching")) for p in served):
        return "store and watches"
    if any(_starts(p, ("socketserver", "http/server", "socket", "json")) for p in paths):
        return "HTTP server, JSON"
    if served:
        return "other kubesim code (routing, namespaces, GC)"
    return "other (interpreter, threading)"


def _samples(
    path: Path, pid: int, names: dict[int, str], main_threads: bool = False
) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
    """Samples of `pid` (and, with --subprocesses, of its children: then each stack starts
    with `process PID:"cmd"` frames) by process and category."""
    by_category: dict[str, Counter[str]] = {}
    by_leaf: dict[str, Counter[str]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        sampled = pid
        # A child's stacks come under its parent's: `process PARENT:"…";process CHILD:"…";…`.
        while frames and frames[0].startswith("process "):
            sampled = int(frames[0].removeprefix("process ").split(":", 1)[0])
            frames = frames[1:]
        process = f"{names.get(sampled, 'worker pool children (tasks)')} {sampled}"
        body = [f for f in frames if not f.startswith("thread ")]
        if main_threads and (not body or body[0].startswith("Thread._bootstrap")):
            continue
        category = kubesim_category(body) if "kubesim" in process else worker_category(body)
        by_category.setdefault(process, Counter())[category] += int(count)
        by_leaf.setdefault(process, Counter())[_package(body[-1]) if body else "?"] += int(count)
    return by_category, by_leaf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, default=200)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--keep", type=Path, help="a folder to copy py-spy's raw stacks into")
    parser.add_argument("--no-spy", action="store_true", help="only the CPU times, no py-spy")
    parser.add_argument(
        "--wall", action="store_true", help="the pool children's main threads, idle or not"
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None and not args.no_spy:
        raise SystemExit("needs py-spy: pip install py-spy (into .venv)")
    lesson = ring_lesson(ENDPOINTS)
    with (
        tempfile.TemporaryDirectory(prefix="lessonq-profile-") as tmp,
        bench_stack(Path(tmp), SIM_ARGS) as stack,
    ):
        worker = stack.start_worker("bench", concurrency=WORKER_PROCESSES)
        client = stack.client()
        (warm,) = wait_settled(client, [client.create(lesson, "warm").id], timeout=60)
        client.teardown(warm.id)
        wait_settled(client, [warm.id], timeout=60)

        roles = _processes(worker.pid)
        sampled = {"worker": worker.pid}
        if not args.wall:
            sampled["kubesim"] = roles["kubesim"][0]
        outputs = {name: Path(tmp) / f"{name}.txt" for name in sampled}
        spies = [
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(args.rate),
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(outputs[name]),
                    "--idle" if args.wall else "--gil",
                    *(["--subprocesses"] if name == "worker" else []),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in sampled.items()
            if spy is not None and not args.no_spy
        ]
        if spies:
            time.sleep(1)  # py-spy attached
        cpu_before = {role: sum(map(_cpu_seconds, pids)) for role, pids in roles.items()}
        machine_before = _machine_busy()
        server = redis.Redis.from_url(stack.settings.redis_url)
        commands_before = server.info("commandstats")
        started = time.time()
        ids = [client.create(lesson, f"burst-{i}").id for i in range(args.lessons)]
        ready = wait_settled(client, ids, timeout=600)
        finished = max(r.ready_at or 0 for r in ready)
        wall = time.time() - started
        cpu = {
            role: sum(map(_cpu_seconds, pids)) - cpu_before[role] for role, pids in roles.items()
        }
        machine = _machine_busy() - machine_before
        commands = {
            name.removeprefix("cmdstat_"): (
                stat["calls"] - commands_before.get(name, {}).get("calls", 0),
                stat["usec"] - commands_before.get(name, {}).get("usec", 0),
            )
            for name, stat in server.info("commandstats").items()
        }
        for spy_process in spies:
            spy_process.send_signal(signal.SIGINT)
        for spy_process in spies:
            spy_process.wait(timeout=60)
        by_process: dict[str, Counter[str]] = {}
        leaves: dict[str, Counter[str]] = {}
        names = {pid: role for role, pids in roles.items() for pid in pids}
        for name, output in outputs.items():
            if not spies:
                break
            if args.keep:
                shutil.copy(output, args.keep)
            categories, by_leaf = _samples(output, sampled[name], names, args.wall)
            by_process.update(categories)
            leaves.update(by_leaf)

    cores = os.cpu_count() or 1
    print(
        f"{args.lessons} lessons, {args.lessons / (finished - started):.1f} lessons/s; "
        f"{wall:.1f} s of wall time until all were READY, {cores} cores\n"
    )
    print("| process | CPU s | share of the cores |\n| --- | ---: | ---: |")
    for role, seconds in cpu.items():
        print(f"| {role} | {seconds:.1f} | {seconds / wall / cores:.0%} |")
    print(f"| all of these | {sum(cpu.values()):.1f} | {sum(cpu.values()) / wall / cores:.0%} |")
    print(f"| the whole machine (py-spy too) | {machine:.1f} | {machine / wall / cores:.0%} |")
    print("\nRedis commands per lesson (INFO commandstats; the server's own time):\n")
    print("| command | calls | µs |\n| --- | ---: | ---: |")
    for name, (calls, usec) in sorted(commands.items(), key=lambda item: -item[1][0])[:12]:
        print(f"| {name} | {calls / args.lessons:.1f} | {usec / args.lessons:.0f} |")
    total_calls = sum(c for c, _ in commands.values())
    total_usec = sum(u for _, u in commands.values())
    print(f"| all | {total_calls / args.lessons:.1f} | {total_usec / args.lessons:.0f} |")
    what = "all samples of the main threads" if args.wall else "samples holding the GIL"
    print(f"\npy-spy, {what}, by what the code was doing:\n")
    for process, counts in sorted(by_process.items(), key=lambda item: -item[1].total()):
        total = counts.total()
        print(f"{process}: {total} samples")
        for category, count in counts.most_common():
            print(f"  {count / total:6.1%}  {category}")
        top = ", ".join(f"{leaf} {n / total:.0%}" for leaf, n in leaves[process].most_common(6))
        print(f"  leaf files: {top}")


if __name__ == "__main__":
    main()
