"""Every job lessonq runs, declared once: the provisioning steps, teardown and GC.

A provisioning step is one entry of `PIPELINE`: the steps it waits for, its queue priority and
what it creates (a pure manifest builder; none for a step that only watches). Its Celery task
name follows from its name, and its body is the one entry in ``tasks.steps.BODIES`` (a step
whose body only makes its objects exist needs none). The steps form a small dependency graph
rather than a line: work that does not depend on each other runs side by side. The lesson's
record in Redis tracks which steps are done, so a finished step starts exactly the steps it
unblocks, and a stalled lesson can be resumed from its record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from lessons.manifests import (
    Manifest,
    namespace_manifests,
    network_manifests,
    pod_manifests,
    policy_manifests,
    service_manifests,
)
from lessons.plan import LessonPlan

ManifestBuilder = Callable[[LessonPlan], list[Manifest]]


class Step(StrEnum):
    NAMESPACE = "namespace"
    NETWORKS = "networks"
    POLICIES = "policies"
    SERVICES = "services"
    PODS = "pods"
    READINESS = "readiness"

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


@dataclass(frozen=True)
class StepSpec:
    needs: tuple[Step, ...]
    # With Redis, 0 is the highest priority. Later steps go first: under a burst, lessons
    # already under way finish before new ones start, instead of all finishing at the end.
    priority: int
    creates: ManifestBuilder | None


PIPELINE: dict[Step, StepSpec] = {
    # The namespace everything else lives in, labelled with the lesson.
    Step.NAMESPACE: StepSpec(needs=(), priority=6, creates=namespace_manifests),
    # A NetworkAttachmentDefinition per link, each on a bridge of its own.
    Step.NETWORKS: StepSpec(needs=(Step.NAMESPACE,), priority=3, creates=network_manifests),
    # The NetworkPolicy that keeps egress inside the lesson (DNS still allowed).
    Step.POLICIES: StepSpec(needs=(Step.NAMESPACE,), priority=3, creates=policy_manifests),
    # A Service per endpoint, named after it.
    Step.SERVICES: StepSpec(needs=(Step.NAMESPACE,), priority=3, creates=service_manifests),
    # A Pod per endpoint, on the lesson's node, wired to its links. Pods wait for their
    # networks (Multus needs the definitions to wire them) and for the policy (a pod must
    # never run unisolated).
    Step.PODS: StepSpec(needs=(Step.NETWORKS, Step.POLICIES), priority=0, creates=pod_manifests),
    # Nothing: watches the pods until every endpoint is ready.
    Step.READINESS: StepSpec(needs=(Step.PODS,), priority=0, creates=None),
}

FIRST_STEPS: tuple[Step, ...] = tuple(step for step, spec in PIPELINE.items() if not spec.needs)


class Job(StrEnum):
    """The Celery task names of the jobs that are not provisioning steps."""

    TEARDOWN = "lessonq.teardown"
    # One message from GC starting many teardowns; a worker fans it out.
    TEARDOWN_MANY = "lessonq.teardown.many"
    GC = "lessonq.gc"
    GC_ORPHANS = "lessonq.gc.orphans"


# Teardowns go first of all: they free what new lessons need.
TEARDOWN_PRIORITY = 0


def all_manifests(plan: LessonPlan) -> list[Manifest]:
    """Everything the steps create, in pipeline order (which applies each object after what it
    needs: the namespace first, networks and policy before any pod)."""
    return [
        manifest
        for spec in PIPELINE.values()
        if spec.creates is not None
        for manifest in spec.creates(plan)
    ]
