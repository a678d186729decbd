"""A whole lessonq stack for a test: Redis, kubesim, settings, workers and beat."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from config.settings import Settings, load_settings
from kubesim import KubeSim
from scheduler.client import LessonClient
from tests.support.settings import TEST_SETTINGS, TEST_SIM
from workers.local import CeleryProcess, RedisServer, start_beat, start_worker


class Stack:
    def __init__(self, workdir: Path, redis: RedisServer, sim: KubeSim, values: dict[str, Any]):
        self.workdir = workdir
        self.redis = redis
        self.sim = sim
        self.values = {**values, "redis_url": redis.url, "kube_url": sim.url}
        self.processes: list[CeleryProcess] = []

    @property
    def settings(self) -> Settings:
        return load_settings(**self.values)

    @property
    def env(self) -> dict[str, str]:
        return {f"LESSONQ_{name.upper()}": str(value) for name, value in self.values.items()}

    def client(self) -> LessonClient:
        return LessonClient(self.settings)

    def start_worker(self, name: str = "worker", concurrency: int = 2) -> CeleryProcess:
        log = self.workdir / f"{name}-{len(self.processes)}.log"
        worker = start_worker(self.env, log, name, self.values["queue"], concurrency)
        self.processes.append(worker)
        return worker

    def start_beat(self) -> CeleryProcess:
        beat = start_beat(self.env, self.workdir / "beat.log", self.workdir)
        self.processes.append(beat)
        return beat

    def close(self) -> None:
        for process in self.processes:
            process.stop()


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
            stack = Stack(workdir, redis, kube, {**TEST_SETTINGS, **(settings or {})})
            try:
                for index in range(workers):
                    stack.start_worker(f"worker{index}")
                yield stack
            finally:
                stack.close()
    finally:
        redis.stop()
