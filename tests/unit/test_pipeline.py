"""The pipeline of provisioning steps (``lessons.steps``) and the bodies that run them
(``tasks.steps``): every step can run, the needs form a graph that finishes, and the objects come
in the order they must be applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from lessons.curriculum import load_curriculum
from lessons.plan import LessonPlan, build_plan
from lessons.steps import FIRST_STEPS, PIPELINE, TEARDOWN_PRIORITY, Job, Step, all_manifests
from tasks.steps import BODIES, body_of, claim_namespace, make_exist, readiness
from tests.support.settings import TEST_SETTINGS


@pytest.fixture(scope="module")
def plan() -> LessonPlan:
    curriculum = load_curriculum(Path(TEST_SETTINGS["curriculum"]))
    return build_plan(
        curriculum.lesson("snapshot-testing"),
        curriculum.images,
        lesson_id="0123456789abcdef",
        session_id="s-1",
        settings=load_settings(**TEST_SETTINGS),
    )


def test_every_step_that_creates_nothing_has_a_body_of_its_own() -> None:
    for step, spec in PIPELINE.items():
        if spec.creates is None:
            assert step in BODIES, f"step {step} would only make nothing exist"


def test_each_step_runs_its_own_body_or_makes_its_objects_exist() -> None:
    assert body_of(Step.NAMESPACE) is claim_namespace
    assert body_of(Step.READINESS) is readiness
    assert [step for step in Step if body_of(step) is make_exist] == [
        Step.NETWORKS,
        Step.POLICIES,
        Step.SERVICES,
        Step.PODS,
    ]
    assert set(BODIES) <= set(PIPELINE)


def test_every_step_is_in_the_pipeline_and_needs_only_steps_before_it() -> None:
    assert list(PIPELINE) == list(Step)
    position = {step: index for index, step in enumerate(PIPELINE)}
    for step in PIPELINE:
        assert len(set(step.needs)) == len(step.needs)
        assert all(position[need] < position[step] for need in step.needs), step


def test_everything_starts_from_the_namespace_and_ends_at_readiness() -> None:
    assert FIRST_STEPS == (Step.NAMESPACE,)
    needed = {need for step in Step for need in step.needs}
    assert [step for step in Step if step not in needed] == [Step.SERVICES, Step.READINESS]
    # Every step is reachable from the first: a lesson can become READY.
    reached = set(FIRST_STEPS)
    for step in PIPELINE:
        if step.needs and all(need in reached for need in step.needs):
            reached.add(step)
    assert reached == set(Step)


def test_pods_wait_for_their_networks_and_their_isolation() -> None:
    assert set(Step.PODS.needs) == {Step.NETWORKS, Step.POLICIES}
    assert Step.READINESS.needs == (Step.PODS,)


def test_task_names_and_priorities() -> None:
    assert [step.task_name for step in Step] == [f"lessonq.provision.{s.value}" for s in Step]
    assert {step: step.priority for step in Step} == {
        Step.NAMESPACE: 6,
        Step.NETWORKS: 3,
        Step.POLICIES: 3,
        Step.SERVICES: 3,
        Step.PODS: 0,
        Step.READINESS: 0,
    }
    # Later steps first: lessons under way finish before new ones start.
    assert Step.PODS.priority < Step.NETWORKS.priority < Step.NAMESPACE.priority
    assert TEARDOWN_PRIORITY == 0
    assert {job.value for job in Job}.isdisjoint(step.task_name for step in Step)


def test_all_manifests_come_in_pipeline_order(plan: LessonPlan) -> None:
    manifests = all_manifests(plan)

    expected = []
    for step in PIPELINE:
        creates = step.creates
        expected.extend(creates(plan) if creates is not None else [])
    assert manifests == expected
    kinds = [m["kind"] for m in manifests]
    assert kinds == (
        ["Namespace"]
        + ["NetworkAttachmentDefinition"] * 3
        + ["NetworkPolicy"]
        + ["Service"] * 4
        + ["Pod"] * 4
    )
