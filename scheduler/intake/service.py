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
from collections import Counter
from collections.abc import Iterator

import anyio.to_thread
import redis
from anyio import CapacityLimiter
from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.settings import Settings
from scheduler.api_models import ErrorBody, Health
from scheduler.intake.errors import ApiError
from scheduler.registry import LessonRegistry
from scheduler.state import LessonState

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
# Threads for the Redis calls of /readyz and /metrics, apart from the /v1 endpoints' pool.
PROBE_THREADS = 4


def probe_registry(settings: Settings) -> LessonRegistry:
    """The registry over a connection that fails fast."""
    connection = redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=PROBE_TIMEOUT,
        socket_connect_timeout=PROBE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    return LessonRegistry(connection, settings)


def lessons_by_state(registry: LessonRegistry) -> Counter[LessonState]:
    """How many lessons are in each state, GONE ones aside.

    Read from the indexes, not from a scan of every key: the expiry index holds the live
    lessons (QUEUED to READY, and FAILED), the heartbeat index those a task is moving (QUEUED,
    PROVISIONING, TEARING_DOWN). Then one pipelined read of each one's state: two round trips
    and as many small reads as there are lessons not yet gone, which admission bounds.
    """
    pipe = registry.redis.pipeline(transaction=False)
    pipe.zrange(registry.expiry_key, 0, -1)
    pipe.zrange(registry.heartbeat_key, 0, -1)
    live, moving = pipe.execute()
    states = registry.states({*live, *moving}).values()
    return Counter(state for state in states if state is not None)


class LessonsCollector:
    """`lessonq_live_lessons{state=...}`, computed from the registry at each scrape."""

    def __init__(self, registry: LessonRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        counts = lessons_by_state(self._registry)
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


def service_router(settings: Settings) -> APIRouter:
    registry = probe_registry(settings)
    metrics = CollectorRegistry(auto_describe=False)
    metrics.register(LessonsCollector(registry))
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
            await anyio.to_thread.run_sync(registry.redis.ping, limiter=probes)
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
