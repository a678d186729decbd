"""Work every pool process needs for its first task, done once in the worker's main process.

Celery forks its pool processes from the main process, and forks a new one whenever one is
replaced (``worker_max_memory_per_child``, a crash); what a child must load before its first
task runs on a lesson's critical path, once per child. A chaos run measured 1.4-2.3 s of CPU
there: the kubernetes client's typed API classes (pydantic models, about 420 ms of CPU per child
on an idle machine) were imported lazily in each child. The edge no longer uses them.

Measured since (``python -m bench --only fork``, medians): a fresh child's first task imports
no module its parent had not, and takes about 16 ms of CPU against 2 ms for the same tasks in a
warm child; about 21 ms from the fork to the end of that task, Celery's set-up of the child
included. Nearly all of it is per process by nature: connections to Redis, the broker and the
API, the runtime (``tasks.runtime``), the child's own metrics, some 4000 pages copied on write.
What could move before the fork was reading and checking the registry's Lua scripts, about 2 ms
per child (first task 15.8 -> 14.0 ms of CPU, fork to its end 21.5 -> 19.6 ms). `install` does
it on ``worker_init``, which Celery sends in the main process once it has imported the task
modules, before the pool forks.

Only fork-safe work belongs here: no sockets, threads or clients (the runtime is built in each
child on purpose), and no metric values, which prometheus_client's multiprocess mode keeps in
files named by the pid that creates them.
"""

from __future__ import annotations

from typing import Any

from celery import signals

from registry import scripts


def warm_up(**_: Any) -> None:
    """Read and check every Lua script of the registry (kept for the children to inherit)."""
    scripts.load_all()


def install() -> None:
    """Connect the warm-up to the worker's start, before its pool forks."""
    signals.worker_init.connect(warm_up, weak=False)
