"""A whole lessonq stack for a test: Redis, kubesim (in this process), workers and beat."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.local import Processes, RedisServer
from kubesim import KubeSim
from tests.support.settings import TEST_SETTINGS, TEST_SIM


@dataclass(kw_only=True)
class Stack(Processes):
    redis: RedisServer
    sim: KubeSim


@contextmanager
def running_stack(
    workdir: Path,
    *,
    sim: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    workers: int = 1,
) -> Iterator[Stack]:
    """Redis and kubesim up, `workers` worker processes started; everything stopped after."""
    redis = RedisServer(workdir / "redis").start()
    try:
        with KubeSim(**{**TEST_SIM, **(sim or {})}) as kube:
            values = {
                **TEST_SETTINGS,
                **(settings or {}),
                "redis_url": redis.url,
                "kube_url": kube.url,
            }
            stack = Stack(workdir, values, redis=redis, sim=kube)
            try:
                for index in range(workers):
                    stack.start_worker(f"worker{index}")
                yield stack
            finally:
                stack.stop()
    finally:
        redis.stop()
