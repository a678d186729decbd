"""A test's own look into Redis, beside lessonq's: what is really stored, and disturbing it."""

from __future__ import annotations

import redis

from registry import LessonRegistry


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def heartbeat(redis_url: str, registry: LessonRegistry, lesson_id: str) -> float | None:
    """When GC expects the lesson's next progress (None: not in the heartbeat index)."""
    return redis_client(redis_url).zscore(registry.keys.heartbeat, lesson_id)
