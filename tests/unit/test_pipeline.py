"""The pipeline of provisioning steps (``lessons.steps``) and the bodies that run them
(``tasks.steps``): every step can run, the needs form a graph that finishes, and the objects come
in the order they must be applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from lessons.curriculum import load_curriculum
from lessons.files import LessonFiles, read_lesson_files
from lessons.manifests import (
    configure_manifests,
    files_manifests,
    ingress_manifests,
    namespace_manifests,
    network_manifests,
    pod_manifests,
    policy_manifests,
    service_manifests,
)
from lessons.plan import build_plan
from lessons.steps import (
    FIRST_STEPS,
    PIPELINE,
    TEARDOWN_PRIORITY,
    Desired,
    Job,
    Step,
    all_manifests,
)
from tasks.steps import (
    BODIES,
    body_of,
    claim_namespace,
    configure,
    expose,
    link_networks,
    make_exist,
    readiness,
)
from tests.support.settings import TEST_SETTINGS


@pytest.fixture(scope="module")
def desired() -> Desired:
    curriculum = load_curriculum(Path(TEST_SETTINGS["curriculum"]))
    files, _ = read_lesson_files(curriculum.root / "lessons" / "snapshot-testing", 1 << 20)
    plan = build_plan(
        curriculum.lesson("snapshot-testing"),
        curriculum.images,
        lesson_id="0123456789abcdef",
        session_id="s-1",
        settings=load_settings(**TEST_SETTINGS),
        files=files,
    )

    def the_files() -> LessonFiles:
        return files

    return Desired(plan, stage=1, generation=2, files=the_files)


def test_every_step_that_creates_nothing_has_a_body_of_its_own() -> None:
    for step, spec in PIPELINE.items():
        if spec.creates is None:
            assert step in BODIES, f"step {step} would only make nothing exist"


def test_each_step_runs_its_own_body_or_makes_its_objects_exist() -> None:
    assert body_of(Step.NAMESPACE) is claim_namespace
    assert body_of(Step.SERVICES) is expose
    assert body_of(Step.READINESS) is readiness
    assert body_of(Step.CONFIGURE) is configure
    assert body_of(Step.NETWORKS) is link_networks
    assert [step for step in Step if body_of(step) is make_exist] == [
        Step.POLICIES,
        Step.FILES,
        Step.PODS,
    ]
    assert set(BODIES) <= set(PIPELINE)


def test_every_step_is_in_the_pipeline_and_needs_only_steps_before_it() -> None:
    assert list(PIPELINE) == list(Step)
    position = {step: index for index, step in enumerate(PIPELINE)}
    for step in PIPELINE:
        assert len(set(step.needs)) == len(step.needs)
        assert all(position[need] < position[step] for need in step.needs), step


def test_everything_starts_from_the_namespace_and_ends_with_configuration() -> None:
    assert FIRST_STEPS == (Step.NAMESPACE,)
    needed = {need for step in Step for need in step.needs}
    assert [step for step in Step if step not in needed] == [Step.SERVICES, Step.CONFIGURE]
    # Every step is reachable from the first: a lesson can become READY.
    reached = set(FIRST_STEPS)
    for step in PIPELINE:
        if step.needs and all(need in reached for need in step.needs):
            reached.add(step)
    assert reached == set(Step)


def test_pods_wait_for_their_networks_their_isolation_and_their_files() -> None:
    assert set(Step.PODS.needs) == {Step.NETWORKS, Step.POLICIES, Step.FILES}
    assert Step.READINESS.needs == (Step.PODS,)
    # Devices are configured once they are up; those two steps judge the deadline themselves.
    assert Step.CONFIGURE.needs == (Step.READINESS,)
    assert [step for step in Step if step.waits] == [Step.READINESS, Step.CONFIGURE]


def test_task_names_and_priorities() -> None:
    assert [step.task_name for step in Step] == [f"lessonq.provision.{s.value}" for s in Step]
    assert {step: step.priority for step in Step} == {
        Step.NAMESPACE: 6,
        Step.NETWORKS: 3,
        Step.POLICIES: 3,
        Step.SERVICES: 3,
        Step.FILES: 3,
        Step.PODS: 0,
        Step.READINESS: 0,
        Step.CONFIGURE: 0,
    }
    # Later steps first: lessons under way finish before new ones start.
    assert Step.PODS.priority < Step.NETWORKS.priority < Step.NAMESPACE.priority
    assert TEARDOWN_PRIORITY == 0
    assert {job.value for job in Job}.isdisjoint(step.task_name for step in Step)


def test_all_manifests_come_in_pipeline_order(desired: Desired) -> None:
    manifests = all_manifests(desired)

    plan = desired.plan
    assert manifests == [
        *namespace_manifests(plan),
        *network_manifests(plan),
        *policy_manifests(plan),
        *service_manifests(plan),
        *ingress_manifests(plan),
        *files_manifests(plan, desired.files()),
        *pod_manifests(plan),
        *configure_manifests(plan, desired.stage, desired.generation),
    ]
    kinds = [m["kind"] for m in manifests]
    assert kinds == (
        ["Namespace"]
        + ["NetworkAttachmentDefinition"] * 3
        + ["NetworkPolicy"]
        + ["Service"] * 4
        + ["ConfigMap", "Secret"]
        + ["Pod"] * 4
        + ["Job"] * 3
    )
    jobs = [m["metadata"]["name"] for m in manifests if m["kind"] == "Job"]
    assert jobs == ["config-vqfx1-1-2", "config-vqfx2-1-2", "config-vqfx3-1-2"]
