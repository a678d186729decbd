"""A test's own look into Redis, beside lessonq's: what is really stored, and disturbing it."""

from __future__ import annotations

import redis


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)
