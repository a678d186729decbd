"""The API's own capacity, as the workers see it: how fast kubesim creates a lesson's objects.

`processes` processes (as many as the throughput bench's worker runs), each with
`parallelism` threads (settings api_parallelism, as the Reconciler has) sharing one client
built like the workers' (`kube.Kube`, on the official kubernetes client, same pool size and
retries), create the objects of fresh copies of the bench's lesson back to back against the same
kubesim, each lesson's in pipeline order (the namespace first), for `seconds`. Counted by
kubesim's own request stats; the pods are scheduled and booted by the simulated cluster, as the
burst's are.

`throughput_vs_api` divides the API calls lessonq made per second in the burst by this rate:
the share of the API's capacity the queue, the workers and the step code let lessonq use.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from bench.harness import BenchStack
from config.settings import Settings
from kube import Kube
from kube.kinds import NAMESPACE
from lessons.model import Lesson
from lessons.steps import Desired, all_manifests

Manifest = dict[str, Any]

# Each measurement's lessons in namespaces of their own.
_runs = itertools.count()


def _creator(
    settings: Settings,
    lessons: list[list[Manifest]],
    parallelism: int,
    seconds: float,
    pipe: Connection,
) -> None:
    """One process: warm the connection, say so, wait for the go, create until the deadline.

    Sends back (creates, failures, first error, monotonic time of the last answer)."""
    kube = Kube.from_settings(settings)
    kube.listing(NAMESPACE, None, "bench=capacity-warm")
    pipe.send("ready")
    started: float = pipe.recv()
    deadline = started + seconds
    next_lesson = iter(lessons)
    lock = threading.Lock()
    counts = {"creates": 0, "failures": 0}
    errors: list[str] = []
    last = [started]

    def loop() -> None:
        while True:
            with lock:
                manifests = next(next_lesson, None)
            if manifests is None:
                return
            for manifest in manifests:
                if time.monotonic() >= deadline:
                    return
                try:
                    kube.create(manifest)
                    key = "creates"
                except Exception as error:  # counted, and reported below
                    key = "failures"
                    errors.append(str(error))
                now = time.monotonic()
                with lock:
                    counts[key] += 1
                    last[0] = max(last[0], now)

    threads = [threading.Thread(target=loop) for _ in range(parallelism)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kube.close()
    pipe.send((counts["creates"], counts["failures"], errors[:1], last[0]))


def api_create_rate(
    stack: BenchStack,
    lesson: Lesson,
    *,
    processes: int,
    parallelism: int,
    seconds: float,
    max_rate: float = 2000.0,
) -> dict[str, Any]:
    """Creates per second kubesim answered, counted by its own stats, and what it answered."""
    client = stack.client()
    settings = stack.settings
    objects = len(all_manifests(Desired(client.plan(lesson, "capacity-size"))))
    # Enough lessons that no thread runs out before the deadline, even at `max_rate`.
    wanted = int(max_rate * seconds / objects / processes) + parallelism
    run = next(_runs)
    batches = [
        [
            all_manifests(Desired(client.plan(lesson, f"capacity-{run}-{p}-{i}")))
            for i in range(wanted)
        ]
        for p in range(processes)
    ]
    # Forked, like the workers' pool children: nothing to import, the client built afterwards.
    context = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    children = []
    finished = False
    for batch in batches:
        ours, theirs = context.Pipe()
        child = context.Process(
            target=_creator, args=(settings, batch, parallelism, seconds, theirs), daemon=True
        )
        child.start()
        pipes.append(ours)
        children.append(child)
    try:
        for pipe in pipes:
            if not pipe.poll(60) or pipe.recv() != "ready":
                raise RuntimeError("an API capacity process did not start")
        before = stack.sim_stats()
        started = time.monotonic()
        for pipe in pipes:
            pipe.send(started)
        answers = []
        for pipe in pipes:
            if not pipe.poll(seconds + 60):
                raise RuntimeError("an API capacity process did not finish")
            answers.append(pipe.recv())
        after = stack.sim_stats()
        finished = True
    finally:
        for child in children:
            child.join(timeout=10 if finished else 0)
            if child.is_alive():
                child.kill()
    creates = sum(a[0] for a in answers)
    failures = sum(a[1] for a in answers)
    if failures:
        error = next(a[2][0] for a in answers if a[2])
        raise RuntimeError(f"{failures} of {creates + failures} creates failed, e.g. {error}")
    elapsed = max(a[3] for a in answers) - started
    server_creates = _difference(before, after, "create")
    if server_creates != creates:
        raise RuntimeError(f"kubesim counted {server_creates} creates, the clients {creates}")
    return {"api_creates": server_creates, "api_create_per_s": server_creates / elapsed}


def _difference(before: dict[str, Any], after: dict[str, Any], verb: str) -> int:
    return int(after["by_verb"].get(verb, 0)) - int(before["by_verb"].get(verb, 0))
