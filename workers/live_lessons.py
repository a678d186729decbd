"""The metrics endpoint of a worker's main process: the children's samples, and live lessons.

Imported only once multiprocess mode is set up (``workers.metrics``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

import redis
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from config.settings import Settings
from scheduler.registry import LessonRegistry
from scheduler.state import LessonState

log = logging.getLogger("lessonq.metrics")


class LiveLessons(Collector):
    """`lessonq_live_lessons{state}`, read from the registry at each scrape.

    Every worker reports the same numbers (they come from Redis): aggregate with max(), not sum().
    """

    def __init__(self, registry: LessonRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        try:
            states = self._registry.states(self._registry.live_ids())
        except redis.RedisError as error:
            log.warning("live lessons not counted: %s", error)
            return
        counts = Counter(state for state in states.values() if state is not None)
        gauge = GaugeMetricFamily(
            "lessonq_live_lessons", "Live lessons in the registry, by state.", labels=["state"]
        )
        for state in LessonState:
            gauge.add_metric([state.value], counts[state])
        yield gauge


def serve_metrics(settings: Settings, directory: str) -> WSGIServer:
    """Serve the children's samples and the live lessons on LESSONQ_METRICS_PORT."""
    assert settings.metrics_port is not None
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    # Short timeouts and no retries: a scrape during a Redis outage must not hang.
    client = redis.Redis.from_url(
        settings.redis_url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
    )
    registry.register(LiveLessons(LessonRegistry(client, settings)))
    server, _ = start_http_server(settings.metrics_port, settings.metrics_host, registry)
    return server
