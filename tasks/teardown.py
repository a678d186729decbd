"""Teardown: delete the lesson's namespace, wait (a little at a time) until it is gone, GONE.

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
from tasks import metrics
from tasks.kube import Kube, KubeError, is_terminating, owner_of
from tasks.provision import LessonTask, backoff, log_step
from tasks.runtime import runtime


def remove_namespace(kube: Kube, namespace: str, lesson_id: str, wait: float) -> bool:
    """Delete the lesson's namespace and watch for up to `wait` seconds; True once it is gone."""
    existing = kube.get_namespace(namespace)
    if existing is None or owner_of(existing) != lesson_id:
        return True
    uid = existing["metadata"]["uid"]
    if not is_terminating(existing):
        deleting = kube.delete_namespace(namespace, uid)
        if deleting is None:
            return True
        existing = deleting
    return kube.wait_namespace_gone(namespace, uid, existing["metadata"]["resourceVersion"], wait)


@shared_task(name=TEARDOWN_TASK, base=LessonTask, bind=True)  # type: ignore[untyped-decorator]
def teardown(self: LessonTask, **kwargs: Any) -> None:
    payload = StepPayload.model_validate(kwargs)
    rt = runtime()
    started = time.monotonic()
    record = rt.registry.get(payload.lesson_id)
    if record is None or record.state is not LessonState.TEARING_DOWN:
        return
    try:
        gone = remove_namespace(
            rt.kube, payload.namespace, payload.lesson_id, rt.settings.readiness_watch
        )
    except KubeError as error:
        # Whatever the API says, the namespace must go: keep trying, ever more patiently.
        rt.registry.report_progress(payload.lesson_id)
        countdown = backoff(
            payload.attempt,
            cap=rt.settings.retry_backoff_max,
            retry_after=getattr(error, "retry_after", None),
        )
        log_step(
            payload,
            "teardown",
            f"retrying in {countdown:.2f}s",
            started,
            error=error.message,
            reason=metrics.reason(error),
        )
        raise self.retry(
            countdown=countdown,
            kwargs=payload.model_copy(update={"attempt": payload.attempt + 1}).kwargs(),
        ) from None
    if not gone:
        rt.registry.report_progress(payload.lesson_id)
        raise self.retry(countdown=0, kwargs=payload.model_copy(update={"attempt": 0}).kwargs())
    rt.registry.finish_teardown(payload.lesson_id)
    log_step(payload, "teardown", "done", started)


@shared_task(name=TEARDOWN_MANY_TASK, base=LessonTask)  # type: ignore[untyped-decorator]
def teardown_many(lesson_ids: list[str]) -> None:
    """Fan a batch (from GC) out into one teardown per lesson."""
    rt = runtime()
    for lesson_id in lesson_ids:
        record = rt.registry.get(lesson_id)
        if record is not None and record.state is LessonState.TEARING_DOWN:
            rt.dispatcher.teardown(StepPayload.of(record))
