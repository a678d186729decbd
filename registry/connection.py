"""Redis clients for the registry: one that rides out a restart, one that answers fast."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry


def connect(url: str, retry_seconds: float | None = None) -> redis.Redis:
    """A Redis client that rides out a restart of the server (25 retries, about 40 s of pauses
    between them), or, with `retry_seconds`, one that retries only while those pauses add up
    to no more than that (each attempt is bounded by the socket timeouts on top)."""
    backoff = ExponentialBackoff(cap=2.0, base=0.05)
    retries = 25
    if retry_seconds is not None:
        retries, paused = 0, backoff.compute(1)
        while paused <= retry_seconds:
            retries += 1
            paused += backoff.compute(retries + 1)
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=2,
        health_check_interval=15,
        retry=Retry(backoff, retries=retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


def connect_failing_fast(url: str, timeout: float) -> redis.Redis:
    """A client that does not retry and gives up after `timeout` s: for probes and scrapes,
    which should say that Redis is gone rather than hang."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
