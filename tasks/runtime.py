"""What a task needs at hand: settings, the clock, the registry, the cluster, the producer and
the observers of each run.

Built once per worker process, on first use: a prefork child must not inherit its parent's
sockets, so nothing here is created at import time. Fast tests build one of their own, with a
clock they move, a cluster in memory and a producer that keeps the messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from celery import Celery, current_app

from config.clock import SYSTEM_CLOCK, Clock
from config.settings import Settings, current_settings
from jobs import CeleryProducer, Producer
from kube import Kube, KubeApi
from lessons.curriculum import Curriculum, served_curriculum
from registry import LessonRegistry
from tasks.observers import LogLine, StepMetrics
from tasks.outcomes import Observer, StepEvent
from tasks.reconcile import Reconciler


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock
    registry: LessonRegistry
    kube: KubeApi
    objects: Reconciler
    producer: Producer
    observers: tuple[Observer, ...]

    @classmethod
    def build(cls, settings: Settings, app: Celery) -> Runtime:
        kube = Kube.from_settings(settings)
        return cls(
            settings=settings,
            clock=SYSTEM_CLOCK,
            registry=LessonRegistry.from_settings(settings, SYSTEM_CLOCK),
            kube=kube,
            objects=Reconciler(kube, settings.api_parallelism),
            producer=CeleryProducer(app, settings.queue),
            observers=(LogLine(), StepMetrics()),
        )

    @cached_property
    def curriculum(self) -> Curriculum:
        """The curriculum the warm pools provision from, read on first use (as the intake
        reads it once at start); LessonError when it cannot be read."""
        return served_curriculum(self.settings)

    def report(self, event: StepEvent) -> None:
        for observer in self.observers:
            observer.step_ended(event)


_by_process: dict[int, Runtime] = {}


def runtime() -> Runtime:
    pid = os.getpid()
    found = _by_process.get(pid)
    if found is None:
        found = Runtime.build(current_settings(), current_app)
        _by_process.clear()
        _by_process[pid] = found
    return found
