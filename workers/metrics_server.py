"""The metrics endpoint of a worker's main process: what its children recorded, added up.

Imported only once multiprocess mode is set up (``workers.metrics``). Live lessons by state are
the intake's to report (its /metrics): they come from Redis, the same for every process.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from config.settings import Settings


def serve_metrics(settings: Settings, directory: str) -> WSGIServer:
    """Serve the samples in `directory` on LESSONQ_METRICS_HOST:LESSONQ_METRICS_PORT."""
    assert settings.metrics_port is not None
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    server, _ = start_http_server(settings.metrics_port, settings.metrics_host, registry)
    return server
