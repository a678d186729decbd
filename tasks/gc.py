"""Garbage collection, run by Celery beat.

Two beat entries, because their costs differ:

- ``lessonq.gc`` (Redis only, cheap at any size): tear down lessons idle past their TTL, fail
  and tear down lessons stuck past their provisioning deadline, and resume lessons whose tasks
  went quiet (a killed worker, a message lost with a Redis restart, an overdue teardown). Each
  is one range query on an index, so the cost follows the number of lessons due, not the
  number alive. Stalled lessons are claimed atomically: two ticks at once (two beats, or a
  slow tick) never resume one twice.
- ``lessonq.gc.orphans`` (one Kubernetes list): delete namespaces that carry this instance's
  labels but have no live lesson. Namespaces without this instance's labels are never touched.
  A transient API error is a warning: the next tick tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import shared_task

from jobs import StepPayload
from kube import TransientError, is_terminating, owner_of
from kube.kinds import NAMESPACE
from lessons.naming import INSTANCE, MANAGED
from lessons.state import PROVISIONING_STATES, LessonState, StepStatus
from lessons.steps import Job
from tasks.running import LessonTask
from tasks.runtime import Runtime, runtime

log = logging.getLogger("lessonq.gc")


@dataclass(frozen=True)
class Collected:
    expired: list[str]
    overdue: list[str]
    resumed: list[str]


def expire_idle(rt: Runtime, now: float) -> list[str]:
    started = rt.registry.begin_teardown(rt.registry.expired(now))
    rt.producer.teardowns(started)
    return started


def fail_overdue(rt: Runtime, now: float) -> list[str]:
    failed = [
        lesson_id
        for lesson_id in rt.registry.overdue(now)
        if rt.registry.fail(lesson_id, "provisioning did not finish before its deadline")
    ]
    rt.producer.teardowns(rt.registry.begin_teardown(failed))
    return failed


def resume_stalled(rt: Runtime, now: float) -> list[str]:
    """Send again the tasks of lessons that made no progress for the stall timeout."""
    resumed = []
    for lesson_id in rt.registry.claim_stalled(now - rt.settings.stall_timeout):
        record = rt.registry.get(lesson_id)
        if record is None:
            continue
        payload = StepPayload.of(record)
        if record.state in PROVISIONING_STATES:
            pending = [
                step for step, rec in record.steps.items() if rec.status is not StepStatus.DONE
            ]
            rt.producer.steps(pending, payload)
        elif record.state is LessonState.TEARING_DOWN:
            rt.producer.teardown(payload)
        else:
            continue
        resumed.append(lesson_id)
    return resumed


def collect(rt: Runtime, now: float) -> Collected:
    return Collected(
        expired=expire_idle(rt, now),
        overdue=fail_overdue(rt, now),
        resumed=resume_stalled(rt, now),
    )


def collect_orphans(rt: Runtime) -> list[str]:
    """Delete this instance's namespaces that no live lesson owns; return their names."""
    selector = f"{MANAGED}=true,{INSTANCE}={rt.settings.instance_id}"
    listed = rt.kube.listing(NAMESPACE, None, selector).items
    namespaces = [ns for ns in listed if not is_terminating(ns)]
    owners = {ns["metadata"]["name"]: owner_of(ns) or "" for ns in namespaces}
    states = rt.registry.states(owner for owner in owners.values() if owner)
    deleted = []
    for ns in namespaces:
        name = ns["metadata"]["name"]
        if states.get(owners[name]) in (None, LessonState.GONE):
            rt.kube.delete(NAMESPACE, name, ns["metadata"]["uid"])
            deleted.append(name)
    return deleted


def tick(rt: Runtime) -> Collected:
    """One GC tick, said in a log line when it did anything."""
    result = collect(rt, rt.clock.now())
    if result.expired or result.overdue or result.resumed:
        log.info(
            "gc: expired %s, overdue %s, resumed %s", result.expired, result.overdue, result.resumed
        )
    return result


def sweep_orphans(rt: Runtime) -> list[str]:
    """One orphan sweep. A transient API error is one warning line, not a traceback: the next
    tick tries again."""
    try:
        deleted = collect_orphans(rt)
    except TransientError as error:
        log.warning("gc: orphan sweep skipped, the next tick tries again: %s", error.message)
        return []
    if deleted:
        log.info("gc: deleted orphan namespaces %s", deleted)
    return deleted


@shared_task(name=Job.GC, base=LessonTask)  # type: ignore[untyped-decorator]
def gc() -> None:
    tick(runtime())


@shared_task(name=Job.GC_ORPHANS, base=LessonTask)  # type: ignore[untyped-decorator]
def gc_orphans() -> None:
    sweep_orphans(runtime())
