"""Lesson and image models, and the curriculum loader's problems: file, field and message."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from config import load_settings
from lessons.curriculum import (
    Curriculum,
    LessonError,
    Limits,
    Problem,
    UnknownLessonError,
    check_lesson_file,
    load_curriculum,
    parse_lesson,
)
from lessons.model import Flavor, Image, Lesson, PresentationType, is_image_reference

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "curriculum"
BROKEN = REPO / "tests" / "data" / "broken"
BASE = BROKEN / "_base"  # A valid curriculum: the images the lesson-file cases use.

# Lesson files, checked against BASE's images: (case, field, words the message must contain).
LESSON_CASES = [
    ("yaml-syntax", "line 6", "invalid YAML: mapping values are not allowed here"),
    ("duplicate-key", "line 13", "duplicate key 'endpoints'"),
    ("unknown-field", "endpoint", "unknown field 'endpoint' (did you mean 'endpoints'?)"),
    ("unknown-nested-field", "endpoints[0].presentation", "unknown field 'presentation'"),
    ("missing-name", "name", "is required"),
    ("missing-endpoint-image", "endpoints[1].image", "is required"),
    ("no-endpoints", "endpoints", "must not be empty"),
    ("link-unknown-endpoint", "connections[1].b", "unknown endpoint 'r9'"),
    ("link-to-itself", "connections[0].b", "connects endpoint 'r1' to itself"),
    ("duplicate-link-reversed", "connections[1]", "duplicates connections[0]"),
    ("duplicate-endpoint", "endpoints[3].name", "duplicate endpoint name 'r1'"),
    ("long-endpoint-name", "endpoints[0].name", "is 70 characters long"),
    ("uppercase-endpoint-name", "endpoints[0].name", "'vQFX1' is not a valid endpoint name"),
    ("endpoint-name-starts-with-digit", "endpoints[0].name", "starting with a letter"),
    ("endpoint-name-is-boolean", "endpoints[0].name", "must be a string, not True (quote it"),
    ("port-zero", "endpoints[0].presentations[0].port", "between 1 and 65535, got 0"),
    ("port-too-big", "endpoints[0].additionalPorts[1]", "between 1 and 65535, got 70000"),
    ("port-not-a-number", "endpoints[0].presentations[0].port", "must be a whole number"),
    ("bad-presentation-type", "endpoints[0].presentations[0].type", "not 'telnet'"),
    ("duplicate-presentation", "endpoints[0].presentations[1].name", "duplicate presentation name"),
    ("bad-configuration-type", "endpoints[1].configurationType", "'puppet' is not a configuration"),
    ("bad-subnet", "connections[0].subnet", "'10.0.0.0/33' is not a CIDR subnet"),
    ("subnet-host-bits", "connections[0].subnet", "host bits set; did you mean 10.0.0.0/24?"),
    ("subnet-too-small", "connections[0].subnet", "no room for the two ends of a link"),
    ("unknown-image", "endpoints[1].image", "unknown image 'ubuntu'; known images: router"),
    ("bad-image-reference", "endpoints[0].image", "is not a valid image reference"),
    ("too-many-links-for-image", "endpoints[0]", "'r1' has 3 links but image 'router' names"),
    ("too-many-endpoints", "endpoints", "has 33 endpoints; the limit is 32"),
    ("too-many-links", "connections", "has 65 links; the limit is 64"),
    ("negative-ready-delay", "readyDelay", "must be at least 0, not -5"),
    ("bad-slug", "slug", "'Broken_Example' is not a valid slug"),
    ("bad-category", "category", "must be one of 'fundamentals', 'tools' or 'workflows'"),
    ("bad-guide-type", "stages[1].guideType", "'markdown' or 'jupyter', not 'video'"),
    ("not-a-mapping", "(file)", "must be a mapping of fields, not a list"),
    ("empty", "(file)", "file is empty"),
]

# Whole curricula: (case, file inside the case, field, words the message must contain).
CURRICULUM_CASES = [
    ("bad-image-flavor", "images/router/image.meta.yaml", "flavor", "not 'superuser'"),
    (
        "bad-interface-name",
        "images/router/image.meta.yaml",
        "networkInterfaces[1]",
        "'em 4' is not a Linux interface name",
    ),
    (
        "long-interface-name",
        "images/router/image.meta.yaml",
        "networkInterfaces[0]",
        "use 1-15 characters",
    ),
    (
        "duplicate-interface-name",
        "images/router/image.meta.yaml",
        "networkInterfaces[2]",
        "duplicate interface name 'em3'",
    ),
    (
        "reserved-interface-name",
        "images/router/image.meta.yaml",
        "networkInterfaces[0]",
        "'eth0' is already used inside every pod",
    ),
    (
        "bad-enable-forwarding",
        "images/router/image.meta.yaml",
        "enableForwarding",
        "must be true or false",
    ),
    ("image-not-a-mapping", "images/router/image.meta.yaml", "(file)", "must be a mapping"),
    (
        "bad-image-requests",
        "images/router/image.meta.yaml",
        "requests.cpu",
        "'two' is not a Kubernetes quantity: write a number with an optional suffix",
    ),
    (
        "bad-memory-request",
        "images/router/image.meta.yaml",
        "requests.memory",
        "'512m' is not a whole number of bytes (m is a thousandth: did you mean 512Mi?)",
    ),
    (
        "image-slug-mismatch",
        "images/router/image.meta.yaml",
        "slug",
        "is 'switch' but the folder is named 'router'",
    ),
    (
        "lesson-slug-mismatch",
        "lessons/small/lesson.meta.yaml",
        "slug",
        "is 'smol' but the folder is named 'small'",
    ),
    (
        "unknown-prereq",
        "lessons/small/lesson.meta.yaml",
        "prereqs[1]",
        "unknown lesson 'routing-101'",
    ),
    ("missing-lesson-file", "lessons/unfinished/lesson.meta.yaml", "(file)", "file is missing"),
]


def _only_problem(error: pytest.ExceptionInfo[LessonError]) -> Problem:
    assert len(error.value.problems) == 1, str(error.value)
    return error.value.problems[0]


def test_the_catalogue_is_large_and_every_case_is_tested() -> None:
    cases = {p.stem for p in BROKEN.glob("*.yaml")}
    cases |= {p.name for p in BROKEN.iterdir() if p.is_dir() and p.name != "_base"}
    tested = {case for case, *_ in LESSON_CASES} | {case for case, *_ in CURRICULUM_CASES}
    assert cases == tested
    assert len(cases) >= 25


@pytest.fixture(scope="module")
def base_images() -> dict[str, Image]:
    return load_curriculum(BASE).images


@pytest.mark.parametrize(("case", "field", "words"), LESSON_CASES)
def test_broken_lesson_file(
    case: str, field: str, words: str, base_images: dict[str, Image]
) -> None:
    path = BROKEN / f"{case}.yaml"
    with pytest.raises(LessonError) as error:
        check_lesson_file(path, base_images).require()
    problem = _only_problem(error)
    assert (problem.file, problem.field) == (str(path), field)
    assert words in problem.message
    assert str(error.value) == f"{path}:{field}: {problem.message}"


@pytest.mark.parametrize(("case", "file", "field", "words"), CURRICULUM_CASES)
def test_broken_curriculum(case: str, file: str, field: str, words: str) -> None:
    curriculum = load_curriculum(BROKEN / case)
    assert len(curriculum.problems) == 1, curriculum.problems
    problem = curriculum.problems[0]
    assert (problem.file, problem.field) == (str(BROKEN / case / file), field)
    assert words in problem.message
    # One lesson is kept out, by its own problem or its image's; any other is served.
    ((slug, broken),) = curriculum.broken.items()
    assert broken.problems == [problem]
    assert slug not in curriculum.lessons
    with pytest.raises(LessonError) as error:
        curriculum.lesson(slug)
    assert error.value.problems == [problem]


def test_every_problem_of_every_file_is_reported(tmp_path: Path) -> None:
    def put(relative: str, text: str) -> None:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)

    put(
        "images/router/image.meta.yaml",
        (BROKEN / "bad-image-flavor/images/router/image.meta.yaml").read_text(),
    )
    put(
        "lessons/small/lesson.meta.yaml",
        (BROKEN / "link-to-itself.yaml").read_text().replace("broken-example", "small"),
    )
    put("lessons/other/lesson.meta.yaml", "name: [unclosed\n")
    curriculum = load_curriculum(tmp_path)
    found = [(Path(p.file).relative_to(tmp_path).as_posix(), p.field) for p in curriculum.problems]
    # The lesson's endpoints use the broken image: that is reported once, in the image's file.
    assert found == [
        ("images/router/image.meta.yaml", "flavor"),
        ("lessons/other/lesson.meta.yaml", "line 2"),
        ("lessons/small/lesson.meta.yaml", "connections[0].b"),
    ]
    assert curriculum.lessons == {} and set(curriculum.broken) == {"other", "small"}


def test_limits_come_from_the_settings_and_apply(base_images: dict[str, Image]) -> None:
    limits = Limits.from_settings(load_settings(max_endpoints=2, max_links=0))
    assert limits == Limits(max_endpoints=2, max_links=0)
    assert Limits() == Limits(max_endpoints=32, max_links=64)
    with pytest.raises(LessonError) as error:
        check_lesson_file(BASE / "lessons/good/lesson.meta.yaml", base_images, limits).require()
    assert [p.field for p in error.value.problems] == ["endpoints", "connections"]


def test_a_missing_file_or_folder_is_a_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(LessonError) as error:
        check_lesson_file(tmp_path / "nope.yaml", {}).require()
    assert str(error.value) == f"{tmp_path / 'nope.yaml'}:(file): file is missing"
    with pytest.raises(LessonError, match="no lessons/ folder"):
        load_curriculum(tmp_path)


# --- the examples -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples() -> Curriculum:
    return load_curriculum(EXAMPLES)


def test_every_example_lesson_loads_clean(examples: Curriculum) -> None:
    assert {"linux-basics", "snapshot-testing", "bgp-spine-leaf"} <= set(examples.lessons)
    assert {"utility", "vqfx"} <= set(examples.images)
    assert (examples.problems, examples.warnings, examples.broken) == ([], [], {})
    for folder in (EXAMPLES / "lessons").iterdir():
        check = check_lesson_file(folder / "lesson.meta.yaml", examples.images)
        assert check.require() == examples.lesson(folder.name)
        assert check.files == examples.files[folder.name]
        assert check.files.exists("lesson.meta.yaml")
        # The client posts models back through parse_lesson in this JSON form; without a folder
        # a configured endpoint is refused.
        lesson = check.require()
        data = lesson.model_dump(by_alias=True, exclude_none=True, mode="json")
        assert Lesson.model_validate(data) == lesson
        if not any(endpoint.configuration_type for endpoint in lesson.endpoints):
            assert parse_lesson(data, "<request>", examples.images) == lesson
    assert max(len(lesson.endpoints) for lesson in examples.lessons.values()) >= 6


def test_the_triangle_example(examples: Curriculum) -> None:
    lesson = examples.lesson("snapshot-testing")
    assert [e.name for e in lesson.endpoints] == ["linux1", "vqfx1", "vqfx2", "vqfx3"]
    assert [(c.a, c.b) for c in lesson.connections] == [
        ("vqfx1", "vqfx2"),
        ("vqfx2", "vqfx3"),
        ("vqfx3", "vqfx1"),
    ]
    assert any(c.subnet for c in lesson.connections)
    vqfx1 = lesson.endpoint("vqfx1")
    assert vqfx1.configuration_type == "napalm"
    assert vqfx1.presentations[0].port == 22
    assert vqfx1.presentations[0].type is PresentationType.SSH
    assert lesson.links_of("vqfx1") == [0, 2]
    assert lesson.link_counts()["vqfx2"] == 2
    with pytest.raises(KeyError):
        lesson.endpoint("vqfx9")
    vqfx = examples.images["vqfx"]
    assert vqfx.flavor is Flavor.TRUSTED and vqfx.enable_forwarding
    assert vqfx.network_interfaces[:3] == ["em3", "em4", "em5"]


def test_an_unknown_slug_is_a_lesson_error(examples: Curriculum) -> None:
    with pytest.raises(UnknownLessonError) as error:
        examples.lesson("nope")
    assert isinstance(error.value, LessonError)
    assert error.value.slug == "nope"
    assert "unknown lesson 'nope'" in str(error.value)
    assert "linux-basics" in str(error.value)
    copy = pickle.loads(pickle.dumps(error.value))
    assert str(copy) == str(error.value)


# --- the models themselves ----------------------------------------------------------------

MINIMAL = {"name": "Inline", "slug": "inline", "endpoints": [{"name": "box", "image": "utility"}]}


def test_yaml_names_in_and_out_and_python_names_too() -> None:
    data = {
        **MINIMAL,
        "shortDescription": "short",
        "readyDelay": 3,
        "endpoints": [
            {
                "name": "r1",
                "image": "quay.io/frr/frr:9.1",
                "configurationType": "napalm-junos",
                "additionalPorts": [830],
                "presentations": [{"name": "cli", "port": 22, "type": "ssh"}],
            },
        ],
        "stages": [{"description": "One", "guideType": "jupyter", "stageVideo": "v.mp4"}],
    }
    lesson = Lesson.model_validate(data)
    assert (lesson.short_description, lesson.ready_delay) == ("short", 3)
    assert lesson.endpoints[0].additional_ports == [830]
    again = Lesson.model_validate(lesson.model_dump(by_alias=True))
    assert again == lesson
    assert "readyDelay" in lesson.model_dump(by_alias=True)
    by_name = Lesson.model_validate({**MINIMAL, "ready_delay": 4})
    assert by_name.ready_delay == 4


def test_models_are_frozen() -> None:
    lesson = Lesson.model_validate(MINIMAL)
    with pytest.raises(ValidationError):
        lesson.slug = "other"  # type: ignore[misc]


def test_image_defaults() -> None:
    image = Image.model_validate({"slug": "plain"})
    assert image.flavor is Flavor.UNTRUSTED
    assert image.network_interfaces == []
    assert not image.enable_forwarding
    full = Image.model_validate(
        {
            "slug": "full",
            "sshUser": "u",
            "sshPassword": "p",
            "configUser": "c",
            "configPassword": "q",
            "networkInterfaces": ["em3", "em4"],
        }
    )
    assert (full.ssh_user, full.config_password) == ("u", "q")
    assert image.requests is None


def test_image_requests_are_quantities_and_numbers_count_as_such() -> None:
    image = Image.model_validate({"slug": "i", "requests": {"cpu": 0.5, "memory": "1.5Gi"}})
    assert image.requests is not None
    assert image.requests.resource_list() == {"cpu": "0.5", "memory": "1.5Gi"}
    only_cpu = Image.model_validate({"slug": "i", "requests": {"cpu": 2}})
    assert only_cpu.requests is not None and only_cpu.requests.resource_list() == {"cpu": "2"}


@pytest.mark.parametrize(
    ("requests", "field", "words"),
    [
        ({"cpu": "-1"}, "requests.cpu", "'-1' is negative; a request is 0 or more"),
        ({"memory": "1e30"}, "requests.memory", "'1e30' is too large a quantity"),
        ({"memory": "1 Gi"}, "requests.memory", "'1 Gi' is not a Kubernetes quantity"),
        ({"cpu": True}, "requests.cpu", "must be a string, not True"),
        ({"gpu": 1}, "requests.gpu", "unknown field 'gpu'"),
        ("2 cpus", "requests", "must be a mapping of fields, not '2 cpus'"),
    ],
)
def test_bad_image_requests_name_their_field(
    requests: object, field: str, words: str, tmp_path: Path
) -> None:
    path = tmp_path / "images" / "router" / "image.meta.yaml"
    path.parent.mkdir(parents=True)
    (tmp_path / "lessons").mkdir()
    path.write_text(yaml.safe_dump({"slug": "router", "requests": requests}))
    (problem,) = load_curriculum(tmp_path).problems
    assert (problem.file, problem.field) == (str(path), field)
    assert words in problem.message


def test_parse_lesson_names_the_source_and_refuses_non_mappings() -> None:
    with pytest.raises(LessonError) as error:
        parse_lesson(["not", "a", "lesson"], "<request>", {})
    assert str(error.value) == "<request>:(file): must be a mapping of fields, not a list"
    with pytest.raises(LessonError) as error:
        parse_lesson(
            {**MINIMAL, "endpoints": [{"name": "box", "image": "utility"}]}, "<request>", {}
        )
    assert str(error.value).startswith("<request>:endpoints[0].image: unknown image 'utility'")


def test_a_full_image_reference_needs_no_image_file_and_has_no_interface_limit() -> None:
    endpoints = [{"name": f"h{i}", "image": "docker.io/library/alpine:3.20"} for i in range(4)]
    links = [{"a": "h0", "b": f"h{i}"} for i in range(1, 4)]
    lesson = parse_lesson({**MINIMAL, "endpoints": endpoints, "connections": links}, "x", {})
    assert lesson.link_counts()["h0"] == 3


@pytest.mark.parametrize(
    "image",
    [
        "alpine:3.20",
        "library/alpine",
        "localhost:5000/lab/router:1.0",
        "registry.example.com/team/router-os_v2:2024.1",
        "ghcr.io/a/b@sha256:" + "a" * 64,
        "ghcr.io/a/b:1.0@sha256:" + "0" * 64,
        "[fd00::1]:5000/x/y",
    ],
)
def test_valid_image_references(image: str) -> None:
    assert is_image_reference(image)
    parse_lesson({**MINIMAL, "endpoints": [{"name": "box", "image": image}]}, "x", {})


@pytest.mark.parametrize(
    "image",
    ["Alpine:3", "alpine:", "alpine:-x", "a//b", "a/b@sha256:abc", "/a", "a/b/", "a:b:c", "a b/c"],
)
def test_invalid_image_references(image: str) -> None:
    with pytest.raises(LessonError) as error:
        parse_lesson({**MINIMAL, "endpoints": [{"name": "box", "image": image}]}, "x", {})
    assert _only_problem(error).field == "endpoints[0].image"


@pytest.mark.parametrize("kind", ["napalm", "napalm-junos", "napalm-nxos_ssh", "python", "ansible"])
def test_configuration_types(kind: str) -> None:
    endpoint = {"name": "box", "image": "a/b", "configurationType": kind}
    lesson = Lesson.model_validate({**MINIMAL, "endpoints": [endpoint]})
    assert lesson.endpoints[0].configuration_type == kind
    # Inline, the lesson has no folder to take the configuration files from.
    with pytest.raises(LessonError) as error:
        parse_lesson({**MINIMAL, "endpoints": [endpoint]}, "x", {})
    problem = _only_problem(error)
    assert problem.field == "endpoints[0].configurationType"
    assert "files in the lesson's folder (stageN/configs/)" in problem.message


@pytest.mark.parametrize("kind", ["napalm-", "Napalm", "napalm junos", "salt", ""])
def test_bad_configuration_types(kind: str) -> None:
    endpoint = {"name": "box", "image": "a/b", "configurationType": kind}
    with pytest.raises(LessonError) as error:
        parse_lesson({**MINIMAL, "endpoints": [endpoint]}, "x", {})
    assert _only_problem(error).field == "endpoints[0].configurationType"


@pytest.mark.parametrize("name", ["em3", "ge-0", "swp1", "e" * 15, "net.1", "Eth-1_x"])
def test_valid_interface_names(name: str) -> None:
    assert Image.model_validate({"slug": "i", "networkInterfaces": [name]})


@pytest.mark.parametrize("name", ["", ".", "..", "e" * 16, "ge-0/0/0", "a:b", "a\tb", "lo"])
def test_invalid_interface_names(name: str) -> None:
    with pytest.raises(ValidationError):
        Image.model_validate({"slug": "i", "networkInterfaces": [name]})


def test_ports_must_be_integers_not_text_or_booleans() -> None:
    for port in ("22", True, 22.0):
        endpoint = {"name": "box", "image": "a/b", "additionalPorts": [port]}
        with pytest.raises(LessonError) as error:
            parse_lesson({**MINIMAL, "endpoints": [endpoint]}, "x", {})
        assert _only_problem(error).field == "endpoints[0].additionalPorts[0]"


def test_ipv6_and_point_to_point_subnets_are_fine() -> None:
    endpoints = [{"name": n, "image": "a/b"} for n in ("a", "b", "c")]
    links = [
        {"a": "a", "b": "b", "subnet": "fd00:1::/64"},
        {"a": "b", "b": "c", "subnet": "10.0.0.2/31"},
    ]
    lesson = parse_lesson({**MINIMAL, "endpoints": endpoints, "connections": links}, "x", {})
    assert [c.subnet for c in lesson.connections] == ["fd00:1::/64", "10.0.0.2/31"]


def test_a_model_error_outside_the_loader_is_readable() -> None:
    with pytest.raises(ValidationError) as error:
        Lesson.model_validate(
            {**MINIMAL, "connections": [{"a": "box", "b": "box"}, {"a": "x", "b": "box"}]}
        )
    text = str(error.value)
    assert "connections.0.b: connects endpoint 'box' to itself" in text
    assert "connections.1.a: unknown endpoint 'x'" in text
