"""The ClusterRole in deploy/ against the calls the code really makes.

A stack of its own (Redis, kubesim, a worker) so that kubesim counts only this run, and every
call in it comes from the pipeline: the test only asks for lessons, sends task messages and
touches Redis, never the Kubernetes API. It runs, through the real tasks, a provisioning with
its readiness watch, the same steps delivered again while the lesson is still provisioning (as
after a lost acknowledgement: each finds its objects there and reads them back), a teardown,
and GC's orphan sweep.
Every (verb, resource) kubesim counted must be granted, and every grant must have been used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobs import CeleryProducer, StepPayload, sending_app
from kubesim.multus import MULTUS_CRD
from kubesim.resources import BUILTINS, custom_types_of
from lessons.state import LessonRecord, LessonState
from lessons.steps import Job, Step
from tests.support.redis import redis_client
from tests.support.settings import REPO
from tests.support.stack import Stack, running_stack
from tests.support.waiting import eventually

GROUP_OF = {rt.plural: rt.group for rt in (*BUILTINS, *custom_types_of(MULTUS_CRD))}
# Devices boot for 3 s (at kubesim's 1/20 of real time): the readiness step finds them not
# ready and watches, and the lesson is still provisioning when its steps come again.
BOOTING = {"image_profiles": [{"pattern": "*", "boot_seconds": 60, "jitter_seconds": 0}]}


def cluster_role() -> dict[str, Any]:
    documents = yaml.safe_load_all((REPO / "deploy" / "rbac.yaml").read_text())
    (role,) = [doc for doc in documents if doc["kind"] == "ClusterRole"]
    return role


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(stats: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (GROUP_OF[resource.split("/")[0]], resource, verb)
        for verb, resources in stats["requests"].items()
        for resource in resources
    }


@pytest.fixture
def rbac_stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, sim=BOOTING) as stack:
        yield stack


def worker_log_lines(stack: Stack, pattern: str) -> list[str]:
    return re.findall(pattern, stack.processes[0].log.read_text(errors="replace"), re.MULTILINE)


def settled(stack: Stack, lesson_id: str) -> LessonRecord:
    return stack.client().wait(lesson_id, timeout=60)


def test_the_cluster_role_grants_exactly_what_the_pipeline_uses(
    rbac_stack: Stack, session_id: str
) -> None:
    client = rbac_stack.client()
    settings = rbac_stack.settings
    app = sending_app(settings)
    lesson = client.create("snapshot-testing", session_id)
    orphan = client.create("linux-basics", f"{session_id}-orphan")

    # Redelivery: once the pods are made and readiness has watched them, every step of the
    # lesson is delivered again while the devices still boot.
    def watched() -> LessonRecord | None:
        record = client.status(lesson.id)
        watches = rbac_stack.sim.stats()["requests"].get("watch", {})
        return record if record.step_done(Step.PODS) and "pods" in watches else None

    record = eventually(watched, timeout=60, what="the readiness step watching the pods")
    assert record.state is LessonState.PROVISIONING
    again = [step for step in Step if step is not Step.READINESS]
    CeleryProducer(app, settings.queue).steps(again, StepPayload.of(record))
    for step in again:
        done = rf"^.*lesson {lesson.id} .* step {step.value}: done in .*$"
        eventually(
            lambda step=step, done=done: len(worker_log_lines(rbac_stack, done)) == 2,
            what=f"step {step.value} done twice",
        )
    for provisioned in (lesson, orphan):
        record = settled(rbac_stack, provisioned.id)
        assert record.state is LessonState.READY, record.error

    client.teardown(lesson.id)
    assert settled(rbac_stack, lesson.id).state is LessonState.GONE

    # The other lesson's record is lost (as when Redis loses its data): its namespace is an
    # orphan, and GC's sweep (the task beat sends) deletes it.
    redis_client(settings.redis_url).delete(client.registry.keys.record(orphan.id))
    app.send_task(Job.GC_ORPHANS, queue=settings.queue)
    eventually(
        lambda: worker_log_lines(
            rbac_stack, rf"gc: deleted orphan namespaces .*'{orphan.namespace}'"
        ),
        what="the orphan sweep",
    )

    calls = used(rbac_stack.sim.stats())
    grants = granted(cluster_role())
    assert calls - grants == set(), "the code calls what deploy/rbac.yaml does not grant"
    assert grants - calls == set(), "deploy/rbac.yaml grants what the code no longer uses"
