"""/healthz, /readyz and /metrics: open without the API token, for probes and Prometheus.

None of them waits behind the /v1 endpoints. Those are plain functions that FastAPI runs in its
shared thread pool (40 threads), and while Redis is down each holds its thread for the lesson
client's retries (LESSONQ_INTAKE_REDIS_RETRY): enough requests fill the pool. So /healthz does
no I/O and runs on the event loop; /readyz and /metrics run their Redis calls on threads of
their own (`PROBE_THREADS`), through a connection that does not retry and times out after
`PROBE_TIMEOUT` seconds, so a probe or a scrape says that Redis is gone instead of hanging.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio.to_thread
import redis
from anyio import CapacityLimiter
from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from config.settings import Settings
from lessons.curriculum import Curriculum
from lessons.state import LessonState
from registry import LessonRegistry, connect_failing_fast
from scheduler.api_models import ErrorBody, Health
from scheduler.intake.errors import ApiError

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
# Threads for the Redis calls of /readyz and /metrics, apart from the /v1 endpoints' pool.
PROBE_THREADS = 4


def probe_registry(settings: Settings) -> LessonRegistry:
    """The registry over a connection that fails fast."""
    return LessonRegistry(connect_failing_fast(settings.redis_url, PROBE_TIMEOUT), settings)


class LessonsCollector:
    """`lessonq_live_lessons{state=...}`, computed from the registry at each scrape."""

    def __init__(self, registry: LessonRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        counts = self._registry.count_by_state()
        gauge = GaugeMetricFamily(
            "lessonq_live_lessons",
            "Lessons of this lessonq instance by state (GONE ones are not counted)",
            labels=["state"],
        )
        # Every state always has a series, so that a rate or an alert sees zeros, not gaps.
        for state in LessonState:
            if state is not LessonState.GONE:
                gauge.add_metric([state.value], counts[state])
        yield gauge


class PoolsCollector:
    """Each warm pool's size and contents (gauges) and its claims, misses and refills
    (counters kept in Redis, so every intake replica reports the same), labelled by lesson."""

    def __init__(self, registry: LessonRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        pools = self._registry.pools.statuses()
        families: list[tuple[type[GaugeMetricFamily | CounterMetricFamily], str, str]] = [
            (GaugeMetricFamily, "size", "READY lessons the pool keeps"),
            (GaugeMetricFamily, "ready", "READY pool lessons waiting for a session"),
            (GaugeMetricFamily, "provisioning", "pool lessons on their way to READY"),
            (CounterMetricFamily, "claims", "creates that got a READY pool lesson"),
            (CounterMetricFamily, "misses", "creates of a pooled lesson that found none READY"),
            (CounterMetricFamily, "refills", "pool lessons that reached READY"),
            (
                CounterMetricFamily,
                "refill_seconds",
                "provisioning time of the pool lessons that reached READY, summed",
            ),
        ]
        for family, field, help_text in families:
            metric = family(f"lessonq_pool_{field}", help_text, labels=["lesson"])
            for pool in pools:
                metric.add_metric([pool.slug], getattr(pool, field))
            yield metric


class CurriculumCollector:
    """`lessonq_curriculum_problems`: what `lessonq validate` would report of the curriculum
    the intake read at start (every tier's)."""

    def __init__(self, curriculum: Curriculum) -> None:
        self._problems = len(curriculum.problems)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "lessonq_curriculum_problems",
            "Problems found in the curriculum at start; the lessons they are in, or whose "
            "images they are in, are left out",
            value=self._problems,
        )


def service_router(settings: Settings, curriculum: Curriculum) -> APIRouter:
    registry = probe_registry(settings)
    metrics = CollectorRegistry(auto_describe=False)
    metrics.register(LessonsCollector(registry))
    metrics.register(PoolsCollector(registry))
    metrics.register(CurriculumCollector(curriculum))
    router = APIRouter(tags=["service"])
    # Created lazily by anyio, in the server's event loop, on first use.
    probes = CapacityLimiter(PROBE_THREADS)

    @router.get("/healthz")
    async def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @router.get("/readyz", responses={503: {"model": ErrorBody, "description": "Redis is down"}})
    async def readyz() -> Health:
        """Redis answers: the service can take requests."""
        try:
            await anyio.to_thread.run_sync(registry.ping, limiter=probes)
        except redis.RedisError as error:
            # The error names Redis's address: for the log, not for whoever asks (no token).
            log.warning("GET /readyz: Redis does not answer: %s", error)
            raise ApiError(503, "Redis does not answer") from None
        return Health(status="ok")

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def prometheus() -> Response:
        """Prometheus metrics, in the text format."""
        text = await anyio.to_thread.run_sync(generate_latest, metrics, limiter=probes)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return router
