"""A curriculum with broken lessons serves the valid ones; tiers; the lesson folder's files."""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from config import load_settings
from lessons.curriculum import (
    WHOLE_FILE,
    WHOLE_FOLDER,
    BrokenLessonError,
    Curriculum,
    LessonError,
    Limits,
    Problem,
    UnknownLessonError,
    check_lesson_file,
    load_curriculum,
    parse_lesson,
)
from lessons.files import CONFIGMAP_MAX_BYTES, read_lesson_files
from lessons.model import Tier
from scheduler.api_models import Catalog
from scheduler.cli_show import catalog_lines
from scheduler.client import LessonClient

REPO = Path(__file__).resolve().parents[2]
MIXED = REPO / "tests" / "data" / "mixed"
VALID = {"configured", "hello", "needs-broken", "preview", "untiered", "workshop"}
# Each broken lesson of MIXED: (file under MIXED, field, words of the message), one problem each.
BROKEN = {
    "bad-port": ("lessons/bad-port/lesson.meta.yaml", "endpoints[0].presentations[0].port", "0"),
    "local-broken": ("lessons/local-broken/lesson.meta.yaml", "endpoints", "must not be empty"),
    "missing-config": (
        "lessons/missing-config/lesson.meta.yaml",
        "endpoints[0].configurationType",
        "stage 1 has no stage1/configs/r1.py",
    ),
    "no-login": (
        "lessons/no-login/lesson.meta.yaml",
        "endpoints[0].configurationType",
        "image 'utility' has no configUser and no configPassword",
    ),
    "not-yaml": ("lessons/not-yaml/lesson.meta.yaml", "line 5", "invalid YAML"),
    # Nothing wrong in its own file: its image is broken.
    "on-broken-image": ("images/broken-router/image.meta.yaml", "flavor", "not 'superuser'"),
    "unknown-prereq": (
        "lessons/unknown-prereq/lesson.meta.yaml",
        "prereqs[1]",
        "unknown lesson 'routing-101'",
    ),
}


@pytest.fixture(scope="module")
def mixed() -> Curriculum:
    return load_curriculum(MIXED)


def _copy(tmp_path: Path, lesson: str) -> Path:
    """A curriculum of MIXED's valid images and one of its lessons; the lesson's folder."""
    root = tmp_path / "curriculum"
    for image in ("router", "utility"):
        shutil.copytree(MIXED / "images" / image, root / "images" / image)
    shutil.copytree(MIXED / "lessons" / lesson, root / "lessons" / lesson)
    return root / "lessons" / lesson


def _at(problem: Problem) -> tuple[str, str]:
    return problem.relative_to(MIXED).file, problem.field


def test_valid_lessons_load_and_each_broken_one_is_kept_out_with_its_problem(
    mixed: Curriculum,
) -> None:
    assert set(mixed.lessons) == VALID
    assert set(mixed.images) == {"router", "utility"}
    assert set(mixed.broken) == set(BROKEN)
    for slug, (file, field, words) in BROKEN.items():
        (problem,) = mixed.broken[slug].problems
        assert _at(problem) == (file, field), slug
        assert words in problem.message, problem
        with pytest.raises(BrokenLessonError) as error:
            mixed.lesson(slug)
        assert error.value.problems == [problem]
    # Every problem once (the image's too), images first, in the order `validate` prints them.
    assert [_at(p) for p in mixed.problems] == [
        ("images/broken-router/image.meta.yaml", "flavor"),
        *(BROKEN[slug][:2] for slug in sorted(BROKEN) if slug != "on-broken-image"),
    ]


def test_a_broken_lesson_raises_what_its_file_raises(mixed: Curriculum) -> None:
    path = MIXED / "lessons/bad-port/lesson.meta.yaml"
    with pytest.raises(LessonError) as alone:
        check_lesson_file(path, mixed.images).require()
    with pytest.raises(LessonError) as served:
        mixed.lesson("bad-port")
    assert str(served.value) == str(alone.value)
    assert str(served.value).startswith(f"{path}:endpoints[0].presentations[0].port: ")
    copy = pickle.loads(pickle.dumps(served.value))
    assert (copy.slug, copy.problems) == ("bad-port", served.value.problems)


def test_a_broken_prereq_is_not_the_dependent_lessons_problem(mixed: Curriculum) -> None:
    assert mixed.lesson("needs-broken").prereqs == ["bad-port", "hello"]
    assert "bad-port" in mixed.broken


def test_strict_loading_is_raising_over_the_problems(mixed: Curriculum) -> None:
    settings = load_settings(curriculum=MIXED, curriculum_strict=True, tier="local")
    with pytest.raises(LessonError) as error:
        LessonClient(settings).curriculum  # noqa: B018 - the property loads it
    assert error.value.problems == mixed.problems


# --- tiers --------------------------------------------------------------------------------


def test_each_tier_serves_itself_and_those_above() -> None:
    assert [tier for tier in Tier if Tier.PROD.serves(tier)] == [Tier.PROD]
    assert [tier for tier in Tier if Tier.PTR.serves(tier)] == [Tier.PROD, Tier.PTR]
    assert [tier for tier in Tier if Tier.LOCAL.serves(tier)] == list(Tier)
    # A lesson without a tier is prod.
    assert all(tier.serves(None) for tier in Tier)


@pytest.mark.parametrize(
    ("tier", "shown"),
    [
        (Tier.PROD, {"configured", "hello", "needs-broken", "untiered"}),
        (Tier.PTR, {"configured", "hello", "needs-broken", "untiered", "preview"}),
        (Tier.LOCAL, VALID),
    ],
)
def test_an_instance_serves_its_tier_and_those_above(
    mixed: Curriculum, tier: Tier, shown: set[str]
) -> None:
    served = mixed.served(tier)
    assert set(served.lessons) == set(served.files) == shown
    # A broken local lesson is as hidden as a valid one; a broken file without a tier is prod.
    assert ("local-broken" in served.broken) is (tier is Tier.LOCAL)
    assert "not-yaml" in served.broken
    # The problems are still every one of the folder's: the operator's, whatever the tier.
    assert served.problems == mixed.problems


@pytest.mark.parametrize("slug", ["workshop", "local-broken"])
def test_a_hidden_lesson_is_unknown_and_its_name_is_not_given(mixed: Curriculum, slug: str) -> None:
    served = mixed.served(Tier.PROD)
    with pytest.raises(UnknownLessonError) as error:
        served.lesson(slug)
    message = str(error.value)
    assert f"unknown lesson {slug!r}" in message
    assert "hello" in message  # the known ones are named, not the hidden ones
    assert not [
        hidden
        for hidden in ("workshop", "local-broken", "preview")
        if hidden in message and hidden != slug
    ]


def test_the_client_serves_the_settings_tier() -> None:
    def client(**settings: object) -> LessonClient:
        return LessonClient(load_settings(curriculum=MIXED, **settings))

    assert client().plan("untiered", "s1").slug == "untiered"
    with pytest.raises(UnknownLessonError):
        client().plan("preview", "s1")
    assert client(tier="ptr").plan("preview", "s1").slug == "preview"
    with pytest.raises(UnknownLessonError):
        client(tier="ptr").plan("workshop", "s1")
    assert client(tier="local").plan("workshop", "s1").slug == "workshop"
    with pytest.raises(BrokenLessonError, match="routing-101"):
        client().plan("unknown-prereq", "s1")


# --- the lesson folder --------------------------------------------------------------------


def test_a_valid_lessons_folder_is_kept_and_planned_with(mixed: Curriculum) -> None:
    files = mixed.files["configured"]
    assert files == read_lesson_files(MIXED / "lessons/configured", 1024)[0]
    assert "stage1/configs/r2-junos.txt" in files.files
    assert ".draft.md" not in files.files
    plan = LessonClient(load_settings(curriculum=MIXED)).plan("configured", "s1")
    assert plan.files_version == files.version
    assert sorted(plan.file_paths) == sorted(files.files)
    # And the same lesson given as the curriculum's model is the same lesson, folder included.
    again = LessonClient(load_settings(curriculum=MIXED)).plan(mixed.lesson("configured"), "s1")
    assert again.files_version == files.version


def test_files_left_out_are_warnings_not_problems(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "hello")
    root = tmp_path / "curriculum"
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "stage0" / "big.bin").write_bytes(b"x" * 2048)
    os.symlink("/etc/hostname", folder / "stage0" / "elsewhere")
    curriculum = load_curriculum(root, Limits(max_file_bytes=1024))
    assert curriculum.problems == [] and set(curriculum.lessons) == {"hello"}
    assert [(p.relative_to(root).file, p.field, p.message) for p in curriculum.warnings] == [
        ("lessons/hello/.git", WHOLE_FILE, "left out of /antidote: hidden"),
        (
            "lessons/hello/stage0/big.bin",
            WHOLE_FILE,
            "left out of /antidote: 2048 bytes, over the limit of 1024",
        ),
        (
            "lessons/hello/stage0/elsewhere",
            WHOLE_FILE,
            "left out of /antidote: not a regular file (a link, a device...)",
        ),
    ]
    assert set(curriculum.files["hello"].files) == {"lesson.meta.yaml", "stage0/guide.md"}


def test_a_folder_larger_than_a_configmap_is_a_problem(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "hello")
    chunk = CONFIGMAP_MAX_BYTES // 4
    for index in range(4):  # with lesson.meta.yaml and guide.md, just over
        (folder / f"part{index}.bin").write_bytes(b"x" * chunk)
    curriculum = load_curriculum(tmp_path / "curriculum", Limits(max_file_bytes=chunk))
    (problem,) = curriculum.problems
    assert (problem.file, problem.field) == (str(folder), WHOLE_FOLDER)
    size = sum(len(content) for content in read_lesson_files(folder, chunk)[0].files.values())
    assert problem.message == (
        f"its files add up to {size} bytes, more than {CONFIGMAP_MAX_BYTES}: the pods see the "
        "lesson folder through one ConfigMap, which holds no more"
    )
    assert "hello" in curriculum.broken


def test_every_stage_of_every_configured_endpoint_needs_its_file(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "configured")
    (folder / "stage0/configs/r1-junos.txt").rename(folder / "stage0/configs/r1-eos.txt")
    (folder / "stage0/configs/r1-nxos.txt").write_text("hostname r1\n")
    (folder / "stage1/configs/r2-junos.txt").unlink()
    (folder / "stage1/configs/linux1.py").unlink()
    problems = load_curriculum(tmp_path / "curriculum").problems
    assert [(p.field, p.message) for p in problems] == [
        (
            "endpoints[0].configurationType",
            "stage 0 needs one file stage0/configs/r1-<driver>.txt (the napalm driver is read "
            "from its name); found 2: stage0/configs/r1-eos.txt, stage0/configs/r1-nxos.txt",
        ),
        ("endpoints[1].configurationType", "stage 1 has no stage1/configs/r2-junos.txt"),
        ("endpoints[2].configurationType", "stage 1 has no stage1/configs/linux1.py"),
    ]
    assert {p.file for p in problems} == {str(folder / "lesson.meta.yaml")}


def test_a_lesson_without_stages_has_stage_zero(tmp_path: Path) -> None:
    folder = tmp_path / "lessons" / "one"
    folder.mkdir(parents=True)
    endpoint = "{name: r1, image: 'x/router:1', configurationType: python}"
    text = f"name: One\nslug: one\nendpoints: [{endpoint}]\n"
    (folder / "lesson.meta.yaml").write_text(text)
    (problem,) = load_curriculum(tmp_path).problems
    assert problem.message == "stage 0 has no stage0/configs/r1.py"
    (folder / "stage0/configs").mkdir(parents=True)
    (folder / "stage0/configs/r1.py").write_text("print()\n")
    assert set(load_curriculum(tmp_path).lessons) == {"one"}


def test_napalm_on_a_full_image_reference_has_no_login(tmp_path: Path) -> None:
    folder = tmp_path / "lessons" / "one"
    (folder / "stage0/configs").mkdir(parents=True)
    (folder / "stage0/configs/r1-junos.txt").write_text("set system host-name r1\n")
    endpoint = "{name: r1, image: 'registry.example.com/vqfx:1', configurationType: napalm}"
    (folder / "lesson.meta.yaml").write_text(f"name: One\nslug: one\nendpoints: [{endpoint}]\n")
    (problem,) = load_curriculum(tmp_path).problems
    assert problem.field == "endpoints[0].configurationType"
    assert "'registry.example.com/vqfx:1' is a full reference" in problem.message


def test_a_lesson_without_a_folder_cannot_be_configured(mixed: Curriculum, tmp_path: Path) -> None:
    source = MIXED / "lessons/configured/lesson.meta.yaml"
    with pytest.raises(LessonError) as inline:
        parse_lesson(yaml.safe_load(source.read_text()), "<request>", mixed.images)
    assert [p.field for p in inline.value.problems] == [
        f"endpoints[{index}].configurationType" for index in range(3)
    ]
    assert all("this lesson has none" in p.message for p in inline.value.problems)
    # A lesson file is its folder's only when it is called lesson.meta.yaml.
    alone = tmp_path / "configured.yaml"
    shutil.copy(source, alone)
    check = check_lesson_file(alone, mixed.images)
    assert check.files is None
    assert check.problems == [replace(p, file=str(alone)) for p in inline.value.problems]


# --- what the intake and `lessonq catalog` show -------------------------------------------


def test_the_catalog_names_each_problem_of_the_served_lessons_from_the_root(
    mixed: Curriculum,
) -> None:
    catalog = Catalog.of(mixed.served(Tier.PROD))
    assert [lesson.slug for lesson in catalog.lessons] == [
        "configured",
        "hello",
        "needs-broken",
        "untiered",
    ]
    assert catalog.lessons[-1].tier is Tier.PROD  # no tier in its file
    hidden = {"local-broken"}
    assert [(p.slug, p.file, p.field) for p in catalog.problems] == [
        (slug, *BROKEN[slug][:2]) for slug in sorted(BROKEN) if slug not in hidden
    ]
    lines = catalog_lines(catalog, MIXED)
    assert lines[0].split() == ["SLUG", "TIER", "ENDPOINTS", "STAGES", "NAME"]
    assert lines[1].split()[:4] == ["configured", "prod", "3", "2"]
    assert f"left out for their problems, 6 lessons (files under {MIXED}):" in lines
    assert (
        "bad-port: lessons/bad-port/lesson.meta.yaml:endpoints[0].presentations[0].port: "
        "port must be between 1 and 65535, got 0"
    ) in lines
