"""Teardown: delete the lesson's namespace, look again until it is gone, then GONE.

Deleting the namespace removes everything in it. The delete names the namespace's uid, so a
newer lesson that reuses the name is never touched. A namespace that is not ours (another
lesson's, or none) means there is nothing of ours left to remove.
"""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from scheduler.dispatch import TEARDOWN_MANY_TASK, StepPayload
from scheduler.state import LessonState
from scheduler.steps import TEARDOWN_TASK
from tasks.kube import Kube, KubeError, is_terminating, owner_of
from tasks.metrics import TEARDOWN_STEP
from tasks.provision import LessonTask, log_step, retry_countdown, run_again
from tasks.runtime import runtime
from tasks.steps import poll_pause


def start_deletion(kube: Kube, namespace: str, lesson_id: str, uid: str | None) -> bool:
    """Delete the lesson's namespace; True when nothing of ours is left to wait for.

    With the uid the registry recorded, one DELETE does (its precondition makes sure it is
    ours); without it, the namespace is read first to check it is ours.
    """
    if uid is None:
        existing = kube.get_namespace(namespace)
        if existing is None or owner_of(existing) != lesson_id:
            return True
        uid = existing["metadata"]["uid"]
        if is_terminating(existing):
            return False
    return kube.delete_namespace(namespace, uid) is None


def namespace_gone(kube: Kube, namespace: str, lesson_id: str) -> bool:
    existing = kube.get_namespace(namespace)
    return existing is None or owner_of(existing) != lesson_id


@shared_task(name=TEARDOWN_TASK, base=LessonTask, bind=True)  # type: ignore[untyped-decorator]
def teardown(self: LessonTask, **kwargs: Any) -> None:
    """Delete once, then look again after growing pauses (a namespace takes seconds to go);
    a worker slot is never held while it terminates."""
    payload = StepPayload.model_validate(kwargs)
    rt = runtime()
    started = time.monotonic()
    record = rt.registry.get(payload.lesson_id)
    if record is None or record.state is not LessonState.TEARING_DOWN:
        return
    try:
        if payload.polls == 0:
            gone = start_deletion(
                rt.kube, payload.namespace, payload.lesson_id, record.namespace_uid
            )
        else:
            gone = namespace_gone(rt.kube, payload.namespace, payload.lesson_id)
    except KubeError as error:
        # Whatever the API says, the namespace must go: keep trying, ever more patiently.
        countdown = retry_countdown(rt, payload, TEARDOWN_STEP, error, started, deadline=None)
        run_again(self, payload, countdown or 0, attempt=payload.attempt + 1)
    if not gone:
        rt.registry.report_progress(payload.lesson_id)
        pause = poll_pause(payload.polls, rt.settings.readiness_watch)
        run_again(self, payload, pause, attempt=0, polls=payload.polls + 1)
    rt.registry.finish_teardown(payload.lesson_id)
    log_step(payload, TEARDOWN_STEP, "done", started)


@shared_task(name=TEARDOWN_MANY_TASK, base=LessonTask)  # type: ignore[untyped-decorator]
def teardown_many(lesson_ids: list[str]) -> None:
    """Fan a batch (from GC) out into one teardown per lesson."""
    rt = runtime()
    for lesson_id in lesson_ids:
        record = rt.registry.get(lesson_id)
        if record is not None and record.state is LessonState.TEARING_DOWN:
            rt.dispatcher.teardown(StepPayload.of(record))
