"""An intake on a curriculum with broken lessons and lessons of every tier: it starts, serves the
valid lessons of its tier, and reports the broken ones (log, catalog, 404, metrics)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings
from lessons.curriculum import Curriculum, load_curriculum
from lessons.model import Tier
from registry import LessonRegistry, connect
from tests.api.conftest import Intake, running_intake
from tests.api.helpers import LESSONS, assert_error, create
from tests.support.settings import REPO
from tests.support.stack import Stack

MIXED = REPO / "tests" / "data" / "mixed"


@pytest.fixture(scope="module")
def mixed() -> Curriculum:
    return load_curriculum(MIXED)


def mixed_intake(stack: Stack, workdir: Path, tier: str) -> AbstractContextManager[Intake]:
    # An instance of its own: its lessons count against no other test's limits.
    return running_intake(
        stack, workdir, tier, curriculum=MIXED, tier=tier, instance_id=f"mixed-{tier}"
    )


@pytest.fixture(scope="module")
def prod(idle_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    with mixed_intake(idle_stack, tmp_path_factory.mktemp("mixed"), "prod") as intake:
        yield intake


def curriculum_problems(api: httpx.Client) -> float:
    families = text_string_to_metric_families(api.get("/metrics").text)
    (family,) = [f for f in families if f.name == "lessonq_curriculum_problems"]
    assert family.type == "gauge"
    (sample,) = family.samples
    return sample.value


def test_the_intake_starts_and_logs_every_problem_once(prod: Intake, mixed: Curriculum) -> None:
    log = prod.log.read_text()
    assert mixed.problems and mixed.warnings
    for problem in mixed.problems:
        assert log.count(f"WARNING lessonq.intake: curriculum problem: {problem}\n") == 1
    for warning in mixed.warnings:
        assert log.count(f"WARNING lessonq.intake: curriculum warning: {warning}\n") == 1
    served = mixed.served(Tier.PROD)
    assert (
        f"serving {len(served.lessons)} lessons; left out for their problems: "
        f"{', '.join(sorted(served.broken))}"
    ) in log
    with prod.client() as api:
        assert api.get("/readyz").status_code == 200
        # Every problem of the folder, as `lessonq validate` counts them.
        assert curriculum_problems(api) == len(mixed.problems) == 7


def test_the_valid_lessons_are_served(prod: Intake, idle_stack: Stack, mixed: Curriculum) -> None:
    with prod.client() as api:
        for slug in ("hello", "untiered", "needs-broken"):
            assert create(api, "learner", lesson=slug)["lesson"] == slug
        configured = create(api, "learner", lesson="configured")
    # The lesson's folder went to Redis for the workers, under the version its plan names.
    settings = load_settings(**{**idle_stack.values, "instance_id": "mixed-prod"})
    registry = LessonRegistry(connect(idle_stack.redis.url), settings)
    version = registry.plan(configured["id"]).files_version
    assert version == mixed.files["configured"].version
    assert registry.files(version) == mixed.files["configured"]


def test_each_broken_lesson_is_in_the_catalog_and_404_names_its_problems(
    prod: Intake, mixed: Curriculum
) -> None:
    served = mixed.served(Tier.PROD)
    with prod.client() as api:
        catalog = api.get("/v1/catalog").json()
        assert [lesson["slug"] for lesson in catalog["lessons"]] == sorted(served.lessons)
        expected = [
            {
                "slug": slug,
                "file": Path(problem.file).relative_to(MIXED).as_posix(),
                "field": problem.field,
                "message": problem.message,
            }
            for slug in sorted(served.broken)
            for problem in served.broken[slug].problems
        ]
        assert catalog["problems"] == expected
        assert {problem["slug"] for problem in expected} == {
            "bad-port",
            "missing-config",
            "no-login",
            "not-yaml",
            "on-broken-image",
            "unknown-prereq",
        }
        for problem in expected:
            response = api.post(LESSONS, json={"lesson": problem["slug"], "session_id": "s1"})
            body = assert_error(response, 404, "not_found")
            assert body["message"] == (
                f"lesson {problem['slug']!r} is left out of the curriculum: "
                f"{problem['file']}:{problem['field']}: {problem['message']}"
            )


def test_lessons_of_tiers_not_served_are_unknown(prod: Intake) -> None:
    with prod.client() as api:
        catalog = api.get("/v1/catalog").json()
        listed = {lesson["slug"] for lesson in catalog["lessons"]}
        listed |= {problem["slug"] for problem in catalog["problems"]}
        assert listed.isdisjoint({"preview", "workshop", "local-broken"})
        assert {lesson["tier"] for lesson in catalog["lessons"]} == {"prod"}
        unknown = assert_error(
            api.post(LESSONS, json={"lesson": "no-such-lesson", "session_id": "s1"}),
            404,
            "not_found",
        )
        for slug in ("preview", "workshop", "local-broken"):
            body = assert_error(
                api.post(LESSONS, json={"lesson": slug, "session_id": "s1"}), 404, "not_found"
            )
            # Word for word what a lesson that does not exist gets.
            assert body["message"] == unknown["message"].replace("'no-such-lesson'", repr(slug))


def test_a_ptr_intake_serves_prod_and_ptr(
    idle_stack: Stack, tmp_path: Path, mixed: Curriculum
) -> None:
    with mixed_intake(idle_stack, tmp_path, "ptr") as intake, intake.client() as api:
        catalog = api.get("/v1/catalog").json()
        assert [lesson["slug"] for lesson in catalog["lessons"]] == sorted(
            mixed.served(Tier.PTR).lessons
        )
        assert "preview" in {lesson["slug"] for lesson in catalog["lessons"]}
        assert create(api, "learner", lesson="preview")["lesson"] == "preview"
        assert_error(
            api.post(LESSONS, json={"lesson": "workshop", "session_id": "s1"}), 404, "not_found"
        )


def test_an_inline_definition_has_no_folder_to_configure_from(prod: Intake) -> None:
    definition = {
        "name": "Inline",
        "slug": "inline",
        "endpoints": [{"name": "r1", "image": "router", "configurationType": "napalm"}],
    }
    with prod.client() as api:
        response = api.post(LESSONS, json={"definition": definition, "session_id": "s1"})
    body = assert_error(response, 422, "invalid_request")
    (problem,) = body["detail"]
    assert problem["field"] == "definition.endpoints[0].configurationType"
    assert "files in the lesson's folder (stageN/configs/)" in problem["message"]
