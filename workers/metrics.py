"""Serving a worker's Prometheus metrics (``LESSONQ_METRICS_PORT``) from its main process.

Tasks run in prefork children, each with metrics of its own. In prometheus_client's
multiprocess mode every child writes its samples to files in one directory, named by
``PROMETHEUS_MULTIPROC_DIR``, and the main process adds them up when scraped.

prometheus_client reads that variable once, when it is first imported, which in a `celery`
process is before any of lessonq's code runs (Flower's plugin to the `celery` command imports
it). So the variable must be in the worker's environment from the start: ``lessonq worker``
sets it to a fresh directory (`environment`) before it hands over to Celery, as do the local
stacks (``devstack.local``). Whoever runs ``celery -A workers.app worker`` with
LESSONQ_METRICS_PORT must set it too, to a directory of that worker's own; without it the
worker logs an error and serves no metrics.

The worker removes the samples in the directory when it starts (those of an earlier run would be
counted again) and when it stops, then the directory itself if that leaves it empty.

The directory grows while the worker runs. Each child writes files of its own, named after its
pid (``counter_<pid>.db``, ``histogram_<pid>.db``, 64 KiB each, sparse), and they must stay
after the child exits, or what it counted would drop out of the totals. Celery replaces a child
after a task that left it above LESSONQ_WORKER_MAX_MEMORY_MB (``worker_max_memory_per_child``),
and the new child starts files of its own: two more per replacement, each read at every scrape,
until the worker restarts. (prometheus_client's ``mark_process_dead`` would not help: it removes
only the files of ``live*`` gauges, and the workers' metrics are counters and histograms.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from celery import signals
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from config.settings import Settings, current_settings

log = logging.getLogger("lessonq.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# What the running worker's main process holds: the directory and a way to stop the server.
_serving: dict[str, Any] = {}


def environment(settings: Settings, parent: Path | None = None) -> dict[str, str]:
    """What a worker's environment needs at its start for its metrics: PROMETHEUS_MULTIPROC_DIR
    naming a new directory (in `parent`, by default the temporary directory), unless the
    worker serves no metrics or the variable is set already."""
    if settings.metrics_port is None or os.environ.get(MULTIPROC_ENV):
        return {}
    return {MULTIPROC_ENV: tempfile.mkdtemp(prefix="lessonq-metrics-", dir=parent)}


def _remove_samples(directory: Path) -> None:
    for samples in directory.glob("*.db"):
        samples.unlink(missing_ok=True)


def _start(**_: Any) -> None:
    settings = current_settings()
    if settings.metrics_port is None:
        return
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        log.error(
            "LESSONQ_METRICS_PORT is set but %s was not when the worker started, so its "
            "processes keep their samples to themselves: no metrics (`lessonq worker` sets it)",
            MULTIPROC_ENV,
        )
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    _remove_samples(path)  # no child has been forked yet
    # What the children recorded, added up at each scrape. Live lessons by state are the
    # intake's to report (its /metrics): they come from Redis, the same for every process.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    server, _thread = start_http_server(settings.metrics_port, settings.metrics_host, registry)
    _serving.update(
        directory=path,
        server=server,
        url=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
    )


def _ready(**_: Any) -> None:
    # Said once the worker is ready: at its start, Celery's logging is not set up yet.
    if "server" in _serving:
        log.info("metrics on %s (samples in %s)", _serving["url"], _serving["directory"])


def _stop(**_: Any) -> None:
    if "server" in _serving:
        _serving["server"].shutdown()
        _remove_samples(_serving["directory"])
        # Not when something else is in it, or when it is a mount point.
        with contextlib.suppress(OSError):
            _serving["directory"].rmdir()
        _serving.clear()


def install() -> None:
    """Connect to the worker's start, ready and shutdown signals."""
    signals.worker_init.connect(_start, weak=False)
    signals.worker_ready.connect(_ready, weak=False)
    signals.worker_shutdown.connect(_stop, weak=False)
