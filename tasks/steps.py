"""The provisioning steps: each reads as the list of what it makes exist.

A step reconciles: it creates what is missing, accepts what is already there and ours, and
refuses what belongs to someone else. It returns an Outcome or raises a KubeError; the Celery
wiring around it (tasks.provision) turns those into retries, failures and the next steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from config.settings import Settings
from scheduler.dispatch import Dispatcher, StepPayload
from scheduler.naming import INSTANCE, LESSON_ID, MANAGED
from scheduler.plan import LessonPlan
from scheduler.registry import LessonRegistry
from scheduler.state import LIVE, PROVISIONING_STATES, LessonState
from scheduler.steps import Step
from tasks.kube import Kube, PermanentError, TransientError, is_terminating, owner_of
from tasks.manifests import (
    Manifest,
    namespace_manifest,
    network_manifests,
    pod_manifests,
    policy_manifests,
    service_manifests,
)
from tasks.metrics import DEADLINE
from tasks.readiness import Readiness, assess


@dataclass(frozen=True)
class StepContext:
    plan: LessonPlan
    payload: StepPayload
    deadline: float
    kube: Kube
    registry: LessonRegistry
    dispatcher: Dispatcher
    settings: Settings

    def still_provisioning(self) -> bool:
        state = self.registry.states([self.plan.lesson_id])[self.plan.lesson_id]
        return state in PROVISIONING_STATES


@dataclass(frozen=True)
class Done:
    pass


@dataclass(frozen=True)
class Stop:
    """The lesson is being torn down: do nothing more."""


@dataclass(frozen=True)
class Again:
    """Not finished yet: run this step again after `countdown` seconds."""

    countdown: float
    ready_since: float | None = None
    polls: int = 0


Outcome = Done | Stop | Again

# Seconds before the first look again at something that takes a while (pods booting, a
# namespace terminating); the pause doubles from there.
POLL_BASE = 1.0


def poll_pause(polls: int, cap: float) -> float:
    """The pause before look number `polls` + 1: 1 s, doubling, at most `cap`."""
    return min(POLL_BASE * 2.0**polls, cap)


StepBody = Callable[[StepContext], Outcome]


def namespace(ctx: StepContext) -> Outcome:
    plan = ctx.plan
    existing = ctx.kube.create_or_get(namespace_manifest(plan)).obj
    if owner_of(existing) != plan.lesson_id:
        _clear_the_way(ctx, existing)
    uid = existing["metadata"]["uid"]
    ctx.registry.report_progress(plan.lesson_id, namespace_uid=uid)
    # A teardown that ran between our state check and the create found nothing to delete:
    # the namespace is ours to remove, or it would leak.
    if not ctx.still_provisioning():
        ctx.kube.delete_namespace(plan.namespace, uid)
        return Stop()
    return Done()


def _clear_the_way(ctx: StepContext, existing: dict[str, Any]) -> None:
    """The namespace name is taken by another lesson's namespace: wait for it, or refuse."""
    name = ctx.plan.namespace
    if is_terminating(existing):
        raise TransientError(
            f"namespace {name} of an earlier lesson is still terminating", retry_after=1
        )
    labels = existing["metadata"].get("labels") or {}
    if labels.get(MANAGED) != "true" or labels.get(INSTANCE) != ctx.plan.instance_id:
        raise PermanentError(
            f"namespace {name} already exists and is not managed by lessonq instance "
            f"{ctx.plan.instance_id!r}"
        )
    other = labels.get(LESSON_ID, "")
    state = ctx.registry.states([other])[other] if other else None
    if state is LessonState.TEARING_DOWN:
        raise TransientError(
            f"namespace {name} of lesson {other} is being torn down", retry_after=1
        )
    if state in LIVE:
        raise PermanentError(f"namespace {name} belongs to live lesson {other}")
    # Left behind by a lesson that no longer exists: remove it, then create ours.
    ctx.kube.delete_namespace(name, existing["metadata"]["uid"])
    raise TransientError(
        f"removing orphan namespace {name} of lesson {other or '?'}", retry_after=1
    )


def creating(manifests: Callable[[LessonPlan], list[Manifest]]) -> StepBody:
    """A step that makes these objects exist, all at once, and is done."""

    def step(ctx: StepContext) -> Outcome:
        ctx.kube.ensure_all(manifests(ctx.plan), ctx.plan.lesson_id)
        return Done()

    return step


def readiness(ctx: StepContext) -> Outcome:
    """Wait for the pods without keeping other work waiting.

    When no other message is waiting for a worker, the step watches the pods for a few seconds
    and notices readiness at once; when work is waiting, it only looks, and comes back after a
    growing pause, so lessons with long boots, or stuck ones, cost a list call per pause rather
    than a worker slot.
    """
    plan = ctx.plan
    selector = f"{LESSON_ID}={plan.lesson_id}"
    endpoints = [endpoint.name for endpoint in plan.endpoints]
    pods, since = ctx.kube.list_pods(plan.namespace, selector)
    seen = assess(pods, endpoints)
    ctx.registry.report_progress(plan.lesson_id, healthy=seen.healthy, total=seen.total)
    budget = min(ctx.settings.readiness_watch, ctx.deadline - time.time())
    if not seen.complete and seen.problem is None and budget > 0 and not ctx.dispatcher.waiting():
        # Nothing else is waiting for this worker slot: watch, and notice readiness at once.
        seen = _watch_until_ready(ctx, {p["metadata"]["name"]: p for p in pods}, since, budget)
    if seen.problem is not None:
        raise PermanentError(seen.problem)
    if not seen.complete:
        if time.time() >= ctx.deadline:
            raise PermanentError(
                f"{seen.healthy}/{seen.total} endpoints ready at the provisioning deadline; "
                f"waiting: {', '.join(seen.waiting)}",
                reason=DEADLINE,
            )
        # Look again after a growing pause, and one last time at the deadline.
        pause = min(
            poll_pause(ctx.payload.polls, ctx.settings.readiness_watch),
            ctx.deadline - time.time(),
        )
        return Again(countdown=max(pause, 0), polls=ctx.payload.polls + 1)
    # The lesson's readyDelay: let the devices settle after their probes pass.
    now = time.time()
    ready_since = ctx.payload.ready_since or now
    settle = plan.ready_delay - (now - ready_since)
    if settle > 0:
        # Come back at least twice per stall timeout, so GC never takes the wait for a stall.
        return Again(
            countdown=min(settle, ctx.settings.stall_timeout / 2),
            ready_since=ready_since,
            polls=ctx.payload.polls,
        )
    return Done()


def _watch_until_ready(
    ctx: StepContext, pods: dict[str, dict[str, Any]], since: str, budget: float
) -> Readiness:
    endpoints = [endpoint.name for endpoint in ctx.plan.endpoints]
    seen = assess(pods.values(), endpoints)
    events = ctx.kube.watch_pods(
        ctx.plan.namespace, f"{LESSON_ID}={ctx.plan.lesson_id}", since, budget
    )
    with closing(events):
        for kind, pod in events:
            name = pod["metadata"]["name"]
            if kind == "DELETED":
                pods.pop(name, None)
            else:
                pods[name] = pod
            previous, seen = seen, assess(pods.values(), endpoints)
            if seen.healthy != previous.healthy:
                ctx.registry.report_progress(ctx.plan.lesson_id, healthy=seen.healthy)
            if seen.complete or seen.problem is not None:
                break
    return seen


BODIES: dict[Step, StepBody] = {
    Step.NAMESPACE: namespace,
    # A NetworkAttachmentDefinition per link, each on a bridge of its own.
    Step.NETWORKS: creating(network_manifests),
    # The NetworkPolicy that keeps egress inside the lesson (DNS still allowed).
    Step.POLICIES: creating(policy_manifests),
    # A Service per endpoint, named after it.
    Step.SERVICES: creating(service_manifests),
    # A Pod per endpoint, on the lesson's node, wired to its links.
    Step.PODS: creating(pod_manifests),
    Step.READINESS: readiness,
}
