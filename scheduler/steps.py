"""The provisioning steps of a lesson and what each waits for.

The steps form a small dependency graph rather than a line: work that does not depend on each
other runs side by side. The live-lesson record in Redis tracks which steps are done, so a
finished step starts exactly the steps it unblocks, and a stalled lesson can be resumed from its
record (see ``LessonRegistry.complete_step`` and the GC's resync).
"""

from __future__ import annotations

from enum import StrEnum


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
    def priority(self) -> int:
        """Later steps go first (with Redis, 0 is the highest priority): under a burst, lessons
        already under way finish before new ones start, instead of all finishing at the end."""
        return STEP_PRIORITY[self]


# Pods wait for their networks (Multus needs the definitions to wire them) and for the policy
# (a pod must never run unisolated); services only need the namespace.
DEPENDS_ON: dict[Step, tuple[Step, ...]] = {
    Step.NAMESPACE: (),
    Step.NETWORKS: (Step.NAMESPACE,),
    Step.POLICIES: (Step.NAMESPACE,),
    Step.SERVICES: (Step.NAMESPACE,),
    Step.PODS: (Step.NETWORKS, Step.POLICIES),
    Step.READINESS: (Step.PODS,),
}

STEP_PRIORITY: dict[Step, int] = {
    Step.NAMESPACE: 6,
    Step.NETWORKS: 3,
    Step.POLICIES: 3,
    Step.SERVICES: 3,
    Step.PODS: 0,
    Step.READINESS: 0,
}
# Teardowns and GC go first of all: they free what new lessons need.
TEARDOWN_PRIORITY = 0

FIRST_STEPS: tuple[Step, ...] = tuple(step for step, deps in DEPENDS_ON.items() if not deps)

TEARDOWN_TASK = "lessonq.teardown"
