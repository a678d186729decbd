"""Serving a worker's Prometheus metrics (``LESSONQ_METRICS_PORT``) from its main process.

Tasks run in prefork children, each with metrics of its own. In prometheus_client's
multiprocess mode every child writes its samples to files in one directory, and the main
process adds them up when scraped. The directory is made fresh when the worker starts (stale
files of an earlier run would be counted again) and removed when it stops.

prometheus_client picks in-memory or file-backed values when first imported, which in a
`celery` process is before any of our code runs; the choice is made again once the directory
is set, before the first child is forked and before any metric is created (``tasks.metrics``
creates them on first use).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from celery import signals

from config.settings import current_settings

log = logging.getLogger("lessonq.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# What the running worker's main process holds: the directory and a way to stop the server.
_serving: dict[str, Any] = {}


def _start(**_: Any) -> None:
    settings = current_settings()
    if settings.metrics_port is None:
        return
    directory = tempfile.mkdtemp(prefix="lessonq-metrics-")
    os.environ[MULTIPROC_ENV] = directory  # inherited by every child forked from here on
    from prometheus_client import values

    # The `celery` command imported prometheus_client already (Flower's plugin uses it), so
    # the library chose in-memory values: choose again, now that the directory is set.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    from workers.metrics_server import serve_metrics

    server = serve_metrics(settings, directory)
    _serving.update(directory=directory, server=server)
    log.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)


def _child_exited(pid: int, **_: Any) -> None:
    if "directory" in _serving:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, _serving["directory"])  # type: ignore[no-untyped-call]


def _stop(**_: Any) -> None:
    if "server" in _serving:
        _serving["server"].shutdown()
        shutil.rmtree(_serving["directory"], ignore_errors=True)
        _serving.clear()


def install() -> None:
    """Connect to the worker's start, child exit and shutdown signals."""
    signals.worker_init.connect(_start, weak=False)
    signals.worker_process_shutdown.connect(_child_exited, weak=False)
    signals.worker_shutdown.connect(_stop, weak=False)
