"""lessonq's worker app with a probe on every task: ``celery -A bench.fork_worker worker``.

The app is ``workers.app`` itself (its task modules and its ``prefork.install()``); the probe
only adds Celery signal handlers that time each task in the pool process that runs it and push
one JSON sample per task to a Redis list, after the task's timing is taken. ``bench.fork`` reads
them.

A pool process's CPU clock starts at zero when it is forked, so ``time.process_time()`` at the
end of a task is the CPU it spent since the fork: Celery's own set-up of the child, plus every
task it ran.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

import redis
from celery import signals

from workers.app import app

__all__ = ["SAMPLES", "app"]

SAMPLES = "bench:fork"

_child: dict[str, Any] = {}


def _process_init(**_: Any) -> None:
    _child.update(tasks=0, modules=len(sys.modules), client=None)


def _prerun(**_: Any) -> None:
    _child["wall"] = time.perf_counter()
    _child["cpu"] = time.process_time()


def _postrun(task: Any = None, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    if "tasks" not in _child or "wall" not in _child:
        return  # not a pool process (a solo or threads pool): no fork to measure from
    sample = {
        "pid": os.getpid(),
        "index": _child["tasks"],  # 0: the process's first task
        "task": getattr(task, "name", "?"),
        "lesson_id": (kwargs or {}).get("lesson_id"),
        "wall_ms": (wall - _child["wall"]) * 1000,
        "cpu_ms": (cpu - _child["cpu"]) * 1000,
        "cpu_since_fork_ms": cpu * 1000,
        "modules_imported": len(sys.modules) - _child["modules"],
        # Minor page faults since the fork: mostly pages copied on first write.
        "page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt,
    }
    _child["tasks"] += 1
    if _child["client"] is None:
        _child["client"] = redis.Redis.from_url(app.conf.broker_url)
    _child["client"].rpush(SAMPLES, json.dumps(sample))


signals.worker_process_init.connect(_process_init, weak=False)
signals.task_prerun.connect(_prerun, weak=False)
signals.task_postrun.connect(_postrun, weak=False)
