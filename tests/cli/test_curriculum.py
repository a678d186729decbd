"""`lessonq validate` and `lessonq render`: no stack needed, only the curriculum."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from config.settings import load_settings
from kubesim.multus import MULTUS_CRD
from lessons.curriculum import load_curriculum
from lessons.steps import Desired, all_manifests
from scheduler.client import LessonClient
from tests.cli.run import assert_one_line_error, lessonq
from tests.support.settings import REPO

BROKEN = REPO / "tests" / "data" / "broken"
EXAMPLES = REPO / "examples" / "curriculum"
# Lesson files of the catalogue, each with one problem, put into one curriculum.
BROKEN_LESSONS = ["yaml-syntax", "port-zero", "link-to-itself", "bad-subnet", "unknown-field"]


@pytest.fixture
def broken_curriculum(tmp_path: Path) -> Path:
    root = tmp_path / "curriculum"
    shutil.copytree(BROKEN / "_base", root)
    shutil.copy(
        BROKEN / "bad-image-flavor/images/router/image.meta.yaml",
        root / "images/router/image.meta.yaml",
    )
    for case in BROKEN_LESSONS:
        (root / "lessons" / case).mkdir()
        shutil.copy(BROKEN / f"{case}.yaml", root / "lessons" / case / "lesson.meta.yaml")
    return root


def test_validate_reports_every_problem_of_a_curriculum(broken_curriculum: Path) -> None:
    result = lessonq("validate", str(broken_curriculum))
    assert result.returncode == 1
    expected = [str(problem) for problem in load_curriculum(broken_curriculum).problems]
    assert result.stdout.splitlines() == expected
    files = {line.split(":", 1)[0] for line in expected}
    assert files == {str(broken_curriculum / "images/router/image.meta.yaml")} | {
        str(broken_curriculum / "lessons" / case / "lesson.meta.yaml") for case in BROKEN_LESSONS
    }
    assert result.stderr.strip() == f"{len(expected)} problems in {broken_curriculum}"


def test_validate_a_lesson_file_against_the_configured_images() -> None:
    env = {"LESSONQ_CURRICULUM": str(BROKEN / "_base")}
    broken = lessonq("validate", str(BROKEN / "port-zero.yaml"), env=env)
    assert broken.returncode == 1
    assert broken.stdout.strip() == (
        f"{BROKEN / 'port-zero.yaml'}:endpoints[0].presentations[0].port: "
        "port must be between 1 and 65535, got 0"
    )
    good = lessonq("validate", str(BROKEN / "_base/lessons/good/lesson.meta.yaml"), env=env)
    assert good.returncode == 0 and "no problems" in good.stdout


def test_validate_a_clean_curriculum() -> None:
    result = lessonq("validate", str(EXAMPLES))
    assert result.returncode == 0, result.stdout
    lessons = len(list((EXAMPLES / "lessons").iterdir()))
    assert result.stdout.strip() == f"{EXAMPLES}: {lessons} lessons and 3 images, no problems"
    assert_one_line_error(lessonq("validate", "/nonexistent"), "/nonexistent: no such file")


def test_validate_prints_warnings_after_the_problems_and_exits_on_the_problems_alone(
    tmp_path: Path,
) -> None:
    root = tmp_path / "curriculum"
    shutil.copytree(BROKEN / "_base", root)
    lesson = root / "lessons" / "good"
    (lesson / ".notes.md").write_text("drafts\n")
    (lesson / "stage0").mkdir()
    (lesson / "stage0" / "big.bin").write_bytes(b"x" * 2048)
    env = {"LESSONQ_LESSON_FILE_MAX_BYTES": "1024"}
    warnings = [
        f"warning: {lesson / '.notes.md'}:(file): left out of /antidote: hidden",
        f"warning: {lesson / 'stage0/big.bin'}:(file): left out of /antidote: 2048 bytes, over "
        "the limit of 1024",
    ]
    clean = lessonq("validate", str(root), env=env)
    assert clean.returncode == 0, clean
    assert clean.stdout.splitlines() == [
        *warnings,
        f"{root}: 1 lesson and 2 images, no problems (2 warnings)",
    ]
    # The same file on its own brings the same folder.
    env["LESSONQ_CURRICULUM"] = str(root)
    alone = lessonq("validate", str(lesson / "lesson.meta.yaml"), env=env)
    assert alone.returncode == 0, alone
    assert alone.stdout.splitlines()[:2] == warnings

    shutil.copytree(BROKEN / "_base/lessons/good", root / "lessons/port-zero")
    shutil.copy(BROKEN / "port-zero.yaml", root / "lessons/port-zero/lesson.meta.yaml")
    broken = lessonq("validate", str(root), env=env)
    assert broken.returncode == 1
    (problem,) = load_curriculum(root).problems
    assert broken.stdout.splitlines() == [str(problem), *warnings]
    assert broken.stderr.strip() == f"1 problem in {root}"


def _strict_nad(manifest: dict[str, Any]) -> None:
    """The Multus CRD's schema (as kubesim installs it), refusing fields it does not name."""
    schema = MULTUS_CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(manifest, schema)
    assert set(manifest) <= set(schema["properties"])
    assert set(manifest["spec"]) <= set(schema["properties"]["spec"]["properties"])
    assert manifest["apiVersion"] == f"{MULTUS_CRD['spec']['group']}/v1"
    json.loads(manifest["spec"]["config"])  # a CNI configuration


def test_render_prints_valid_manifests_ready_for_kubectl() -> None:
    lesson_id = "0123456789abcdef"
    result = lessonq(
        "render", "snapshot-testing", "--session", "learner-1", "--lesson-id", lesson_id
    )
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    plan, files = LessonClient(load_settings()).prepare("snapshot-testing", "learner-1", lesson_id)
    # Exactly what the workers create, the lesson's folder included.
    assert documents == all_manifests(Desired(plan, files=lambda: files))
    kinds = {document["kind"] for document in documents}
    assert kinds == {
        "Namespace",
        "NetworkPolicy",
        "NetworkAttachmentDefinition",
        "Service",
        "Pod",
        # The lesson folder, the devices' login and the Jobs that configure them (stage 0).
        "ConfigMap",
        "Secret",
        "Job",
    }
    for document in documents:
        if document["kind"] == "NetworkAttachmentDefinition":
            _strict_nad(document)
        else:
            kubernetes_validate.validate(document, latest_version(), strict=True)
