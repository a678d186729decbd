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

FIRST_STEPS: tuple[Step, ...] = tuple(step for step, deps in DEPENDS_ON.items() if not deps)

TEARDOWN_TASK = "lessonq.teardown"


def runnable(done: set[Step], started: set[Step]) -> list[Step]:
    """Steps whose dependencies are all done and that have not been started yet."""
    return [
        step
        for step, deps in DEPENDS_ON.items()
        if step not in done and step not in started and all(dep in done for dep in deps)
    ]
