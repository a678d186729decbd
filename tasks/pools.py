"""Warm pools, kept by the workers (``lessons.pool`` says what a pool lesson is).

- ``lessonq.pool.refill`` (beat, every LESSONQ_POOL_REFILL_INTERVAL; after the sizes change):
  for each pool, retire the lessons that can no longer be handed out (FAILED, a pod that
  restarted or stopped being ready, a lesson that changed since, more than the pool's size),
  then provision new ones until the pool holds its size again. The create script counts as it
  registers, so refills running at once never make a pool larger than its size; a refill
  killed halfway leaves registered lessons that GC resumes like any other.
- ``lessonq.pool.claimed`` (sent by the create that claimed one): refill that pool, then label
  the lesson's namespace and pods with the session and store its plan with the session. The
  learner already has the lesson READY: none of this holds up the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from jobs import StepPayload
from kube import KubeApi, KubeError, TransientError
from kube.kinds import NAMESPACE, POD
from lessons.curriculum import Curriculum, LessonError
from lessons.manifests import session_annotations
from lessons.naming import LESSON_ID, SESSION, label_value
from lessons.plan import LessonPlan, build_plan
from lessons.pool import pool_version
from lessons.readiness import is_ready
from lessons.state import LessonRecord, LessonState
from lessons.steps import FIRST_STEPS, Job
from registry import AdmissionRefused, new_lesson_id
from tasks.outcomes import Outcome
from tasks.running import LessonTask, RunAgain, StepRun, carry_out, retry_after_error
from tasks.runtime import Runtime, runtime

log = logging.getLogger("lessonq.pool")

# The step name of a claim's follow-up in logs and metrics.
CLAIM_STEP = "claim"


def _curriculum_of(rt: Runtime) -> Curriculum | None:
    try:
        return rt.curriculum
    except LessonError as error:
        log.warning("pools: the curriculum cannot be read, no pool refilled: %s", error)
        return None


def _restarted(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(status.get("restartCount", 0) > 0 for status in statuses)


def broken_pods(kube: KubeApi, record: LessonRecord) -> list[str]:
    """The pods of a READY pool lesson that restarted or are no longer ready: a learner would
    get devices that lost their configuration, or none at all."""
    pods = kube.listing(POD, record.namespace, f"{LESSON_ID}={record.id}").items
    names = [pod["metadata"]["name"] for pod in pods if _restarted(pod) or not is_ready(pod)]
    if not pods:
        names.append("(none left)")
    return names


def _unusable(rt: Runtime, record: LessonRecord | None, version: str) -> str | None:
    """Why a pool lesson can no longer be handed out, if it cannot."""
    if record is None or not record.waiting_in_pool:
        return None  # claimed or gone meanwhile: no longer the pool's
    if record.state is LessonState.FAILED:
        return f"failed: {record.error}"
    if record.pool_version != version:
        return "the lesson changed since it was provisioned"
    if record.state is LessonState.READY:
        try:
            broken = broken_pods(rt.kube, record)
        except KubeError as error:
            log.warning("pools: pods of %s not checked: %s", record.id, error.message)
            return None
        if broken:
            return f"pods restarted or not ready: {', '.join(broken)}"
    return None


def refill_pool(rt: Runtime, curriculum: Curriculum, slug: str, size: int) -> dict[str, Any]:
    """Retire what the pool cannot hand out, then provision until it holds `size` lessons.
    Returns what it did (the task's result, which Flower shows)."""
    lesson, files = curriculum.lessons.get(slug), curriculum.files.get(slug)
    if lesson is None:
        log.warning("pools: %s is not a lesson this instance serves; its pool stays empty", slug)
        size, version = 0, ""
    else:
        version = pool_version(lesson, curriculum.images, rt.settings, files)
    members = rt.registry.pools.members(slug)
    records = rt.registry.many(members)
    retire: dict[str, str] = {}
    for lesson_id, record in records.items():
        why = _unusable(rt, record, version)
        if why is not None:
            retire[lesson_id] = why
    kept = [lesson_id for lesson_id in members if lesson_id not in retire]
    # Past its size (the operator made it smaller): the ones furthest from READY go first.
    kept.sort(key=lambda lesson_id: _is_ready(records[lesson_id]))
    for lesson_id in kept[: max(0, len(kept) - size)]:
        retire[lesson_id] = f"the pool's size is {size}"
    # Only while still unclaimed: a session may have claimed one since it was looked at.
    retired = rt.registry.begin_teardown(retire, unclaimed_only=True)
    rt.producer.teardowns(retired)
    for lesson_id in retired:
        log.info("pools: retired %s of %s: %s", lesson_id, slug, retire[lesson_id])
    started = []
    for _ in range(size - (len(members) - len(retired))):
        assert lesson is not None
        plan = build_plan(
            lesson,
            curriculum.images,
            lesson_id=new_lesson_id(),
            session_id=None,
            settings=rt.settings,
            files=files,
        )
        try:
            record = rt.registry.create_pooled(plan, size, version, files)
        except AdmissionRefused as error:
            log.warning("pools: %s not refilled: %s", slug, error)
            break
        if record is None:
            break  # another refill filled it
        rt.producer.steps(FIRST_STEPS, StepPayload.of(record))
        started.append(record.id)
    return {"size": size, "started": started, "retired": retired}


def _is_ready(record: LessonRecord | None) -> bool:
    return record is not None and record.state is LessonState.READY


def refill(rt: Runtime, slugs: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Refill every pool (or those of `slugs`)."""
    curriculum = _curriculum_of(rt)
    if curriculum is None:
        return {}
    sizes = rt.registry.pools.sizes()
    return {
        slug: refill_pool(rt, curriculum, slug, size)
        for slug, size in sorted(sizes.items())
        if slugs is None or slug in slugs
    }


def relabel(kube: KubeApi, plan: LessonPlan) -> int:
    """Label a claimed pool lesson's namespace and pods with its session (the namespace also
    gets the exact id); the other objects are found through their namespace. Idempotent.
    Returns how many objects changed."""
    assert plan.session_id is not None
    session = {SESSION: label_value(plan.session_id)}
    changed = 0
    namespace = kube.read(NAMESPACE, plan.namespace)
    if namespace is None:
        return 0
    if (namespace["metadata"].get("labels") or {}).get(SESSION) != session[SESSION]:
        patch = {"metadata": {"labels": session, "annotations": session_annotations(plan)}}
        changed += kube.merge_patch(NAMESPACE, plan.namespace, patch) is not None
    for pod in kube.listing(POD, plan.namespace, f"{LESSON_ID}={plan.lesson_id}").items:
        if (pod["metadata"].get("labels") or {}).get(SESSION) != session[SESSION]:
            patch = {"metadata": {"labels": session}}
            name = pod["metadata"]["name"]
            changed += kube.merge_patch(POD, name, patch, plan.namespace) is not None
    return changed


def hand_over(rt: Runtime, payload: StepPayload) -> RunAgain | None:
    """What follows a claim: the pool refilled (first: the next learner waits for it), then the
    lesson's plan and objects made its session's."""
    run = StepRun(rt, CLAIM_STEP, payload)
    record = rt.registry.get(payload.lesson_id)
    if record is None or record.session_id is None:
        return None
    if payload.attempt == 0:
        refill(rt, [record.lesson])
    if record.state not in (LessonState.READY, LessonState.CONFIGURING):
        run.report(Outcome.SKIPPED, why=f"lesson is {record.state}")
        return None
    plan = rt.registry.plan(record.id)
    if plan.session_id != record.session_id:
        plan = plan.claimed_by(record.session_id)
        rt.registry.adopt_plan(plan)
    try:
        relabel(rt.kube, plan)
    except TransientError as error:
        return run.retry(error, retry_after_error(rt, payload, error))
    except KubeError as error:
        # The labels help people find a session's lesson; the lesson works without them (and
        # has not failed: a refusal here is said, not counted as a lesson's failure).
        log.warning("pools: lesson %s not labelled with its session: %s", record.id, error.message)
        run.report(Outcome.SKIPPED, why=f"not labelled: {error.message}")
        return None
    run.report(Outcome.DONE)
    return None


@shared_task(name=Job.POOL_REFILL, base=LessonTask)  # type: ignore[untyped-decorator]
def pool_refill() -> dict[str, dict[str, Any]]:
    return refill(runtime())


@shared_task(name=Job.POOL_CLAIMED, base=LessonTask, bind=True)  # type: ignore[untyped-decorator]
def pool_claimed(self: LessonTask, **kwargs: Any) -> None:
    carry_out(self, hand_over(runtime(), StepPayload.model_validate(kwargs)))
