"""`lessonq catalog`: the lessons served and the problems of those left out; the commands that
take a lesson treat a broken or hidden one as the intake does. No stack needed."""

from __future__ import annotations

import json

from lessons.curriculum import load_curriculum
from lessons.model import Tier
from scheduler.api_models import Catalog
from scheduler.cli_show import catalog_lines
from tests.cli.run import assert_one_line_error, lessonq
from tests.support.settings import REPO

MIXED = REPO / "tests" / "data" / "mixed"
ON_MIXED = {"LESSONQ_CURRICULUM": str(MIXED)}


def test_catalog_lists_the_lessons_served_then_the_problems_of_those_left_out() -> None:
    result = lessonq("catalog", env=ON_MIXED)
    assert result.returncode == 0, result.stderr
    catalog = Catalog.of(load_curriculum(MIXED).served(Tier.PROD))
    assert result.stdout.splitlines() == catalog_lines(catalog, MIXED)
    assert "bad-port" in {problem.slug for problem in catalog.problems}
    assert (
        "no-login: lessons/no-login/lesson.meta.yaml:endpoints[0].configurationType: napalm logs "
        "in to the device with its image's configUser and configPassword, and image 'utility' "
        "has no configUser and no configPassword"
    ) in result.stdout.splitlines()


def test_catalog_json_is_the_intakes_and_follows_the_tier() -> None:
    for tier in Tier:
        result = lessonq("catalog", "--json", env={**ON_MIXED, "LESSONQ_TIER": tier.value})
        assert result.returncode == 0, result.stderr
        expected = Catalog.of(load_curriculum(MIXED).served(tier))
        assert json.loads(result.stdout) == expected.model_dump(mode="json")
    slugs = {lesson.slug for lesson in expected.lessons}  # local: every valid lesson
    assert {"preview", "workshop"} <= slugs
    assert "local-broken" in {problem.slug for problem in expected.problems}


def test_a_broken_or_hidden_lesson_is_refused_by_name() -> None:
    broken = lessonq("render", "bad-port", "--session", "s1", env=ON_MIXED)
    assert_one_line_error(
        broken,
        f"lessonq render: {MIXED}/lessons/bad-port/lesson.meta.yaml:"
        "endpoints[0].presentations[0].port: port must be between 1 and 65535, got 0",
    )
    hidden = lessonq("render", "workshop", "--session", "s1", env=ON_MIXED)
    assert_one_line_error(hidden, "unknown lesson 'workshop'")
    shown = lessonq(
        "render", "workshop", "--session", "s1", env={**ON_MIXED, "LESSONQ_TIER": "local"}
    )
    assert shown.returncode == 0, shown.stderr


def test_strict_refuses_the_whole_curriculum() -> None:
    result = lessonq("catalog", env={**ON_MIXED, "LESSONQ_CURRICULUM_STRICT": "true"})
    assert result.returncode == 1
    problems = [str(problem) for problem in load_curriculum(MIXED).problems]
    assert result.stderr.splitlines() == [f"lessonq catalog: {problems[0]}", *problems[1:]]
    assert result.stdout == ""
