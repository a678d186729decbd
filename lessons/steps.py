"""Every job lessonq runs, declared once: the provisioning steps, teardown and GC.

A provisioning step is one entry of `PIPELINE`: the steps it waits for, its queue priority and
what it creates (a pure manifest builder, from what the lesson should have: `Desired`; none for
a step that only watches). Its Celery task name follows from its name, and its body is the one
entry in ``tasks.steps.BODIES`` (a step whose body only makes its objects exist needs none).
The steps form a small dependency graph rather than a line: work that does not depend on each
other runs side by side. The lesson's
record in Redis tracks which steps are done, so a finished step starts exactly the steps it
unblocks, and a stalled lesson can be resumed from its record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from lessons.files import LessonFiles
from lessons.manifests import (
    Manifest,
    configure_manifests,
    files_manifests,
    ingress_manifests,
    namespace_manifests,
    network_manifests,
    pod_manifests,
    policy_manifests,
    service_manifests,
)
from lessons.plan import LessonPlan


def _no_files() -> LessonFiles | None:
    return None


@dataclass(frozen=True)
class Desired:
    """What a lesson should have in its namespace now: its plan, the stage its devices are
    configured for (`generation` counts the stage changes), how to get its folder's files
    (only the step that makes their ConfigMap asks: they may be a megabyte), the nodes its
    pods avoid and its overlay links' VNIs."""

    plan: LessonPlan
    stage: int = 0
    generation: int = 0
    files: Callable[[], LessonFiles | None] = _no_files
    # Nodes the lesson's pods must avoid: too small for all of them (``lessons.placement``).
    avoid: tuple[str, ...] = ()
    # Its overlay links' VNIs, by link (none in bridge mode).
    vnis: tuple[int, ...] = ()


ManifestBuilder = Callable[[Desired], list[Manifest]]


class Step(StrEnum):
    NAMESPACE = "namespace"
    NETWORKS = "networks"
    POLICIES = "policies"
    SERVICES = "services"
    FILES = "files"
    PODS = "pods"
    READINESS = "readiness"
    CONFIGURE = "configure"

    @property
    def task_name(self) -> str:
        return f"lessonq.provision.{self.value}"

    @property
    def needs(self) -> tuple[Step, ...]:
        return PIPELINE[self].needs

    @property
    def priority(self) -> int:
        return PIPELINE[self].priority

    @property
    def creates(self) -> ManifestBuilder | None:
        return PIPELINE[self].creates

    @property
    def waits(self) -> bool:
        return PIPELINE[self].waits


@dataclass(frozen=True)
class StepSpec:
    needs: tuple[Step, ...]
    # With Redis, 0 is the highest priority. Later steps go first: under a burst, lessons
    # already under way finish before new ones start, instead of all finishing at the end.
    priority: int
    creates: ManifestBuilder | None
    # The step waits for the cluster (pods to boot, Jobs to finish): it judges the provisioning
    # deadline itself, to say what it waited for.
    waits: bool = False


def _of_plan(build: Callable[[LessonPlan], list[Manifest]]) -> ManifestBuilder:
    """A builder that needs only the plan."""
    return lambda desired: build(desired.plan)


PIPELINE: dict[Step, StepSpec] = {
    # The namespace everything else lives in, labelled with the lesson.
    Step.NAMESPACE: StepSpec(needs=(), priority=6, creates=_of_plan(namespace_manifests)),
    # A NetworkAttachmentDefinition per link, each on a bridge of its own; on an overlay, its
    # body first allocates the links' VNIs.
    Step.NETWORKS: StepSpec(
        needs=(Step.NAMESPACE,),
        priority=3,
        creates=lambda desired: network_manifests(desired.plan, desired.vnis),
    ),
    # The NetworkPolicy that keeps egress inside the lesson (DNS still allowed).
    Step.POLICIES: StepSpec(
        needs=(Step.NAMESPACE,), priority=3, creates=_of_plan(policy_manifests)
    ),
    # A Service per endpoint, named after it, and the Jupyter guide's; with a presentation
    # domain, an Ingress per web page (http presentations, the guide). Its body first copies
    # the Ingresses' certificate into the namespace, with TLS.
    Step.SERVICES: StepSpec(
        needs=(Step.NAMESPACE,),
        priority=3,
        creates=_of_plan(lambda plan: service_manifests(plan) + ingress_manifests(plan)),
    ),
    # The lesson's folder as a ConfigMap (/antidote in every pod and Job), and the devices'
    # credentials for the configuration Jobs as a Secret.
    Step.FILES: StepSpec(
        needs=(Step.NAMESPACE,),
        priority=3,
        creates=lambda desired: files_manifests(desired.plan, desired.files()),
    ),
    # A Pod per endpoint, on the lesson's node, wired to its links, and the Jupyter guide's.
    # Pods wait for their networks (Multus needs the definitions to wire them), for the policy
    # (a pod must never run unisolated) and for the files they mount.
    Step.PODS: StepSpec(
        needs=(Step.NETWORKS, Step.POLICIES, Step.FILES),
        priority=0,
        creates=lambda desired: pod_manifests(desired.plan, desired.avoid),
    ),
    # Nothing: watches the pods until every endpoint, and the guide, is ready.
    Step.READINESS: StepSpec(needs=(Step.PODS,), priority=0, creates=None, waits=True),
    # A Job per configured endpoint for the lesson's stage (those of earlier stages go); then
    # the lesson's readyDelay. Also the step a stage change runs.
    Step.CONFIGURE: StepSpec(
        needs=(Step.READINESS,),
        priority=0,
        creates=lambda desired: configure_manifests(
            desired.plan, desired.stage, desired.generation
        ),
        waits=True,
    ),
}

FIRST_STEPS: tuple[Step, ...] = tuple(step for step, spec in PIPELINE.items() if not spec.needs)


class Job(StrEnum):
    """The Celery task names of the jobs that are not provisioning steps."""

    TEARDOWN = "lessonq.teardown"
    # One message from GC starting many teardowns; a worker fans it out.
    TEARDOWN_MANY = "lessonq.teardown.many"
    GC = "lessonq.gc"
    GC_ORPHANS = "lessonq.gc.orphans"
    # A session claimed a pool lesson: label its objects with the session, refill its pool.
    POOL_CLAIMED = "lessonq.pool.claimed"
    # Keep every warm pool at its size (beat, and after the sizes change).
    POOL_REFILL = "lessonq.pool.refill"


# Teardowns go first of all: they free what new lessons need.
TEARDOWN_PRIORITY = 0
# A claim's follow-up, and refills, go with the provisioning of lessons already under way.
POOL_PRIORITY = 3


def all_manifests(desired: Desired) -> list[Manifest]:
    """Everything the steps create, in pipeline order (which applies each object after what it
    needs: the namespace first, networks, policy and files before any pod). All but the copy of
    the Ingresses' certificate, which the services step reads from the cluster."""
    return [
        manifest
        for spec in PIPELINE.values()
        if spec.creates is not None
        for manifest in spec.creates(desired)
    ]
