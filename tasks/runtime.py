"""What a task needs at hand: settings, the registry, the Kubernetes client and the dispatcher.

Built once per worker process, on first use: a prefork child must not inherit its parent's
sockets, so nothing here is created at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from celery import Celery, current_app

from config.settings import Settings, current_settings
from scheduler.dispatch import Dispatcher
from scheduler.registry import LessonRegistry
from tasks.kube import Kube


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    registry: LessonRegistry
    kube: Kube
    dispatcher: Dispatcher

    @classmethod
    def build(cls, settings: Settings, app: Celery) -> Runtime:
        return cls(
            settings=settings,
            registry=LessonRegistry.from_settings(settings),
            kube=Kube.from_settings(settings),
            dispatcher=Dispatcher(app, settings.queue),
        )


_by_process: dict[int, Runtime] = {}


def runtime() -> Runtime:
    pid = os.getpid()
    found = _by_process.get(pid)
    if found is None:
        found = Runtime.build(current_settings(), current_app)
        _by_process.clear()
        _by_process[pid] = found
    return found
