"""The bodies of the provisioning steps.

A step reconciles: it makes what its entry in ``lessons.steps.PIPELINE`` creates exist, accepts
what is already there and ours, and refuses what belongs to someone else. Most steps need no
body of their own (`make_exist`); the namespace step also clears the way for its namespace, the
services step copies the Ingresses' certificate in, readiness watches the pods, and configure
runs the configuration Jobs. A body returns a `Result` or raises a KubeError; the runner
(``tasks.provision``) turns those into retries, failures and the next steps.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from config.clock import Clock
from config.settings import Settings
from jobs import Producer, StepPayload
from kube import KubeApi, Obj, PermanentError, TransientError, is_terminating, owner_of
from kube.kinds import JOB, NAMESPACE, NODE, POD, SECRET
from lessons.files import LessonFiles
from lessons.manifests import Manifest, network_manifests, pod_manifests, tls_manifest
from lessons.naming import CONFIGURES, INSTANCE, JOB_NAME, LESSON_ID, MANAGED
from lessons.placement import (
    describe_requests,
    fits_a_node,
    rooms_of,
    stranded,
    too_big,
    unschedulable,
)
from lessons.plan import LessonPlan, pod_requests, total_requests
from lessons.readiness import Readiness, assess
from lessons.state import LIVE, PROVISIONING_STATES, LessonRecord, LessonState
from lessons.steps import Desired, Step
from registry import LessonRegistry, VnisExhausted
from tasks.diagnostics import log_tail
from tasks.outcomes import Reason
from tasks.reconcile import Reconciler
from tasks.runtime import Runtime


@dataclass(frozen=True)
class StepContext:
    step: Step
    plan: LessonPlan
    desired: Desired
    payload: StepPayload
    deadline: float
    kube: KubeApi
    objects: Reconciler
    registry: LessonRegistry
    producer: Producer
    settings: Settings
    clock: Clock

    @classmethod
    def of(
        cls, rt: Runtime, step: Step, record: LessonRecord, plan: LessonPlan, payload: StepPayload
    ) -> StepContext:
        """The context of one run of `step`, for the lesson as its record is now."""

        def files() -> LessonFiles | None:
            if plan.files_version is None:
                return None
            try:
                return rt.registry.files(plan.files_version)
            except LookupError as error:
                raise PermanentError(str(error)) from None

        return cls(
            step=step,
            plan=plan,
            desired=Desired(
                plan,
                record.stage,
                record.config_generation,
                files,
                tuple(record.avoided_nodes),
                tuple(record.vnis),
            ),
            payload=payload,
            deadline=record.deadline,
            kube=rt.kube,
            objects=rt.objects,
            registry=rt.registry,
            producer=rt.producer,
            settings=rt.settings,
            clock=rt.clock,
        )

    @property
    def manifests(self) -> list[Manifest]:
        """What this step creates, from its entry in the pipeline."""
        creates = self.step.creates
        return creates(self.desired) if creates is not None else []

    def still_provisioning(self) -> bool:
        return self.registry.state(self.plan.lesson_id) in PROVISIONING_STATES


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


Result = Done | Stop | Again
StepBody = Callable[[StepContext], Result]

# Seconds before the first look again at something that takes a while (pods booting, a
# namespace terminating); the pause doubles from there.
POLL_BASE = 1.0


def poll_pause(polls: int, cap: float) -> float:
    """The pause before look number `polls` + 1: 1 s, doubling, at most `cap`."""
    return min(POLL_BASE * 2.0**polls, cap)


def make_exist(ctx: StepContext) -> Result:
    """The body of a step that only makes its objects exist, all at once."""
    ctx.objects.ensure_all(ctx.manifests, ctx.plan.lesson_id)
    return Done()


def claim_namespace(ctx: StepContext) -> Result:
    """Make the namespace exist and be ours; record its uid, which teardown deletes by."""
    plan = ctx.plan
    (manifest,) = ctx.manifests
    existing = ctx.objects.create_or_get(manifest).obj
    if owner_of(existing) != plan.lesson_id:
        _clear_the_way(ctx, existing)
    uid = existing["metadata"]["uid"]
    ctx.registry.report_progress(plan.lesson_id, namespace_uid=uid)
    # A teardown that ran between our state check and the create found nothing to delete:
    # the namespace is ours to remove, or it would leak.
    if not ctx.still_provisioning():
        ctx.kube.delete(NAMESPACE, plan.namespace, uid)
        return Stop()
    return Done()


def _clear_the_way(ctx: StepContext, existing: Obj) -> None:
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
    state = ctx.registry.state(other) if other else None
    if state is LessonState.TEARING_DOWN:
        raise TransientError(
            f"namespace {name} of lesson {other} is being torn down", retry_after=1
        )
    if state in LIVE:
        raise PermanentError(f"namespace {name} belongs to live lesson {other}")
    # Left behind by a lesson that no longer exists: remove it, then create ours.
    ctx.kube.delete(NAMESPACE, name, existing["metadata"]["uid"])
    raise TransientError(
        f"removing orphan namespace {name} of lesson {other or '?'}", retry_after=1
    )


def expose(ctx: StepContext) -> Result:
    """The Services and the web pages' Ingresses; with TLS, first the copy of the certificate
    they name, from the Secret in lessonq's own namespace (an Ingress can only name a Secret of
    its own namespace)."""
    source = ctx.plan.tls_secret
    if source is not None and ctx.plan.ingresses():
        original = ctx.kube.read(SECRET, source.name, source.namespace)
        if original is None:
            raise PermanentError(
                f"the web pages' certificate, Secret {source.namespace}/{source.name} "
                "(LESSONQ_PRESENTATION_TLS_SECRET), does not exist"
            )
        ctx.objects.ensure(tls_manifest(ctx.plan, original), ctx.plan.lesson_id)
    return make_exist(ctx)


def readiness(ctx: StepContext) -> Result:
    """Wait for the pods (the endpoints' and the Jupyter guide's) without keeping other work
    waiting; the record counts the endpoints.

    When no other message is waiting for a worker, the step watches the pods for a few seconds
    and notices readiness at once; when work is waiting, it only looks, and comes back after a
    growing pause, so lessons with long boots, or stuck ones, cost a list call per pause rather
    than a worker slot.
    """
    plan, clock = ctx.plan, ctx.clock
    selector = f"{LESSON_ID}={plan.lesson_id}"
    listed, since = ctx.kube.listing(POD, plan.namespace, selector)
    pods = {pod["metadata"]["name"]: pod for pod in listed}
    if ctx.desired.avoid and not pods.keys() >= set(plan.pods()):
        # Placed again (below): the pods deleted there are made anew, away from those nodes.
        ctx.objects.ensure_all(pod_manifests(plan, ctx.desired.avoid), plan.lesson_id)
        return Again(countdown=0, polls=0)
    seen = assess(pods.values(), plan.pods())
    ctx.registry.report_progress(plan.lesson_id, healthy=_healthy(plan, seen))
    budget = min(ctx.settings.readiness_watch, ctx.deadline - clock.now())
    watch = not seen.complete and seen.problem is None and budget > 0
    # A pod already Unschedulable is not watched for: the lesson may need placing again.
    if watch and unschedulable(pods.values()) is None and not ctx.producer.waiting():
        # Nothing else is waiting for this worker slot: watch, and notice readiness at once.
        seen = _watch_until_ready(ctx, pods, since, budget)
    if seen.problem is not None:
        raise PermanentError(seen.problem)
    if not seen.complete:
        if unschedulable(pods.values()) is not None:
            placed = _place_again(ctx, list(pods.values()))
            if placed is not None:
                return placed
        counted = f"{_healthy(plan, seen)}/{len(plan.endpoints)} endpoints ready"
        return _again_until_the_deadline(ctx, counted, ", ".join(seen.waiting))
    return Done()


def _place_again(ctx: StepContext, pods: list[Obj]) -> Again | None:
    """Some pods cannot be scheduled. A lesson no node could hold fails now; one stranded on a
    node too small for it is placed again (its pods deleted at once, and made anew on the next
    look, away from that node), at most LESSONQ_PLACEMENT_ATTEMPTS times. Otherwise the nodes
    are busy: the scheduler places the pods once room frees up."""
    plan = ctx.plan
    rooms = rooms_of(ctx.kube.listing(NODE, None, "").items)
    # (No node seen, or none that takes lesson pods: nothing to judge by; wait for some.)
    if plan.overlay:
        # Its pods may spread over nodes: the lesson fits when each pod fits some node.
        for endpoint, asks in zip(plan.endpoints, pod_requests(plan), strict=True):
            if rooms and not fits_a_node(asks, rooms):
                raise PermanentError(too_big(asks, rooms, endpoint.name), reason=Reason.PLACEMENT)
        return None
    total = total_requests(plan)
    if rooms and not fits_a_node(total, rooms):
        raise PermanentError(too_big(total, rooms), reason=Reason.PLACEMENT)
    strand = stranded(pods)
    if strand is None:
        return None
    tried = [*ctx.desired.avoid, strand.node]
    if len(ctx.desired.avoid) >= ctx.settings.placement_attempts:
        raise PermanentError(
            f"no node could hold the lesson's {total.pods} pods ({describe_requests(total)}): "
            f"placed on {', '.join(tried)} in turn; {strand.message}",
            reason=Reason.PLACEMENT,
        )
    if ctx.registry.avoid_node(plan.lesson_id, strand.node) is None:
        return None  # torn down meanwhile
    for pod in pods:
        meta = pod["metadata"]
        ctx.kube.delete(POD, meta["name"], meta["uid"], plan.namespace, grace_seconds=0)
    return Again(countdown=0, polls=0)


def _again_until_the_deadline(ctx: StepContext, counted: str, waiting: str) -> Again:
    """Look again after a growing pause, and one last time at the deadline; past it, the lesson
    fails saying how far it got (`counted`) and what it still waited for."""
    now = ctx.clock.now()
    if now >= ctx.deadline:
        raise PermanentError(
            f"{counted} at the provisioning deadline; waiting: {waiting}", reason=Reason.DEADLINE
        )
    pause = min(poll_pause(ctx.payload.polls, ctx.settings.readiness_watch), ctx.deadline - now)
    return Again(countdown=max(pause, 0), polls=ctx.payload.polls + 1)


def _healthy(plan: LessonPlan, seen: Readiness) -> int:
    """The endpoints ready: the guide's pod is waited for, but it is not an endpoint."""
    return len(seen.ready & {endpoint.name for endpoint in plan.endpoints})


def _watch_until_ready(
    ctx: StepContext, pods: dict[str, dict[str, Any]], since: str, budget: float
) -> Readiness:
    plan = ctx.plan
    seen = assess(pods.values(), plan.pods())
    events = ctx.kube.watch(POD, plan.namespace, f"{LESSON_ID}={plan.lesson_id}", since, budget)
    with closing(events):
        for kind, pod in events:
            name = pod["metadata"]["name"]
            if kind == "DELETED":
                pods.pop(name, None)
            else:
                pods[name] = pod
            previous, seen = seen, assess(pods.values(), plan.pods())
            if _healthy(plan, seen) != _healthy(plan, previous):
                ctx.registry.report_progress(plan.lesson_id, healthy=_healthy(plan, seen))
            # (An Unschedulable pod ends the watch too: the lesson may need placing again.)
            if seen.complete or seen.problem is not None or unschedulable([pod]) is not None:
                break
    return seen


# A failed configuration Job's error quotes this much of its pod's log.
LOG_LINES = 20
LOG_BYTES = 2000


def configure(ctx: StepContext) -> Result:
    """Configure the devices for the lesson's stage, then let them settle for its readyDelay."""
    if ctx.plan.configured():
        waiting = _configuration_jobs(ctx)
        if waiting is not None:
            return waiting
    # The lesson's readyDelay: let the devices settle once they are up and configured.
    now = ctx.clock.now()
    ready_since = ctx.payload.ready_since or now
    settle = ctx.plan.ready_delay - (now - ready_since)
    if settle > 0:
        return Again(countdown=settle, ready_since=ready_since, polls=ctx.payload.polls)
    return Done()


def _configuration_jobs(ctx: StepContext) -> Again | None:
    """Run a Job per configured endpoint (`ctx.manifests`, for this stage and generation); the
    Jobs of earlier stages or generations go first. Jobs take a while: like readiness, the step
    looks, and comes back after a growing pause (Again) until every Job has succeeded (None); a
    Job that failed for good fails the lesson with its pod's last log lines."""
    plan = ctx.plan
    wanted = {manifest["metadata"]["name"]: manifest for manifest in ctx.manifests}
    listed = ctx.kube.listing(JOB, plan.namespace, f"{LESSON_ID}={plan.lesson_id}").items
    jobs = {job["metadata"]["name"]: job for job in listed}
    for name, job in jobs.items():
        if name not in wanted and not is_terminating(job):
            ctx.kube.delete(JOB, name, job["metadata"]["uid"], plan.namespace)
    missing = [manifest for name, manifest in wanted.items() if name not in jobs]
    ctx.objects.ensure_all(missing, plan.lesson_id)
    progress = {name: job_progress(jobs.get(name)) for name in wanted}
    done = sum(1 for state in progress.values() if state == "done")
    ctx.registry.report_progress(plan.lesson_id, configured=done)
    for name, state in progress.items():
        if state == "failed":
            raise PermanentError(_job_failure(ctx, jobs[name]), reason=Reason.CONFIGURATION)
    if done == len(wanted):
        return None
    waiting = ", ".join(
        f"{wanted[name]['metadata']['labels'][CONFIGURES]} ({name})"
        for name, state in progress.items()
        if state != "done"
    )
    return _again_until_the_deadline(ctx, f"{done}/{len(wanted)} endpoints configured", waiting)


def job_progress(job: Obj | None) -> str:
    """`done`, `failed` or `running` (a Job just created, with no status yet, runs)."""
    conditions = ((job or {}).get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("status") == "True" and condition.get("type") == "Complete":
            return "done"
        if condition.get("status") == "True" and condition.get("type") == "Failed":
            return "failed"
    return "running"


def _job_failure(ctx: StepContext, job: Obj) -> str:
    """What failed, as the Job says it, and the last lines its latest pod printed."""
    name = job["metadata"]["name"]
    endpoint = job["metadata"]["labels"][CONFIGURES]
    failed = next(
        c for c in job["status"]["conditions"] if c["type"] == "Failed" and c["status"] == "True"
    )
    why = f"{failed.get('reason') or 'Failed'}: {failed.get('message') or 'no message'}"
    pods = ctx.kube.listing(POD, ctx.plan.namespace, f"{JOB_NAME}={name}").items
    if not pods:
        return f"{endpoint}: configuration Job {name} failed ({why}); it left no pod"
    latest = max(pods, key=lambda pod: str(pod["metadata"].get("creationTimestamp")))
    pod = latest["metadata"]["name"]
    log = log_tail(ctx.kube, ctx.plan.namespace, pod, LOG_LINES, LOG_BYTES)
    return (
        f"{endpoint}: configuration Job {name} failed ({why}); last lines of pod {pod}:\n"
        f"{log or '(nothing)'}"
    )


def link_networks(ctx: StepContext) -> Result:
    """The links' NetworkAttachmentDefinitions; on an overlay, after their VNIs are allocated
    (the same ones again for a step delivered twice)."""
    plan = ctx.plan
    if not plan.overlay or not plan.links:
        return make_exist(ctx)
    try:
        vnis = ctx.registry.allocate_vnis(plan.lesson_id, len(plan.links))
    except VnisExhausted as error:
        raise PermanentError(f"no VNI for the lesson's overlay links: {error}") from None
    if vnis is None:
        return Stop()
    ctx.objects.ensure_all(network_manifests(plan, vnis), plan.lesson_id)
    return Done()


# The steps with a body of their own; every other step only makes its objects exist.
BODIES: dict[Step, StepBody] = {
    Step.NAMESPACE: claim_namespace,
    Step.NETWORKS: link_networks,
    Step.SERVICES: expose,
    Step.READINESS: readiness,
    Step.CONFIGURE: configure,
}


def body_of(step: Step) -> StepBody:
    return BODIES.get(step, make_exist)
