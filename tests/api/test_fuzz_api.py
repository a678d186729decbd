"""Generated requests at POST /v1/lessons: whatever comes in, the answer is never a 500."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Intake, running_intake
from tests.api.helpers import LESSONS
from tests.support.settings import REPO
from tests.support.stack import Stack

CURRICULUM = REPO / "examples/curriculum/lessons"
SLUGS = sorted(path.name for path in CURRICULUM.iterdir())
BASE_DEFINITION: dict[str, Any] = yaml.safe_load(
    (CURRICULUM / "linux-basics/lesson.meta.yaml").read_text()
)
# Accepted, unknown lesson, too large, invalid, over a limit: never anything else.
EXPECTED = {202, 404, 413, 422, 429}
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/problem+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "garbage",
    None,
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
valid_session_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
session_ids = (
    valid_session_ids
    | st.text(max_size=70)
    | st.sampled_from(["", "a" * 65, "nul\x00", "../x", "s\u00e9ance"])
    | json_values
)
known_slugs = st.sampled_from([*SLUGS, "no-such-lesson", "../etc/passwd.yaml", ""])
slugs = known_slugs | st.text(max_size=30) | json_values
names = st.sampled_from(["linux1", "linux2", "r1", "Bad", ""]) | st.text(max_size=8)
connections = st.lists(
    st.fixed_dictionaries(
        {"a": names, "b": names},
        optional={"subnet": st.sampled_from(["10.0.0.0/30", "10.0.0.1/30", "x"]) | scalars},
    ),
    max_size=3,
)


@st.composite
def definitions(draw: st.DrawFn) -> Any:
    """The linux-basics lesson with a few fields replaced by anything, or anything at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(json_values)
    lesson = copy.deepcopy(BASE_DEFINITION)
    endpoint = lesson["endpoints"][0]
    # Taken before any change: a change may replace the lists that lead to them.
    targets = [lesson, endpoint, endpoint["presentations"][0]]
    if draw(st.booleans()):
        second = {**copy.deepcopy(endpoint), "name": draw(names)}
        lesson["endpoints"].append(second)
        lesson["connections"] = draw(connections)
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(targets))
        key = draw(st.sampled_from(sorted(target)) | st.text(max_size=10))
        target[key] = draw(json_values)
    return lesson


# Mostly well-formed requests, so that many reach the curriculum checks and the registry.
bodies = (
    st.fixed_dictionaries({"session_id": valid_session_ids, "lesson": known_slugs})
    | st.fixed_dictionaries({"session_id": valid_session_ids, "definition": definitions()})
    | st.fixed_dictionaries(
        {},
        optional={
            "session_id": session_ids,
            "lesson": slugs,
            "definition": definitions(),
            "extra": json_values,
        },
    )
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, str | None]:
    kind = draw(st.sampled_from(["object", "object", "object", "json", "bytes"]))
    if kind == "object":
        content = json.dumps(draw(bodies)).encode()
    elif kind == "json":
        content = json.dumps(draw(json_values)).encode()
    else:
        content = draw(st.binary(max_size=200))
    return content, draw(st.sampled_from(CONTENT_TYPES))


@pytest.fixture(scope="module")
def fuzzed(idle_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    # Its own instance and a small global limit: some generated requests meet admission too.
    workdir = Path(tmp_path_factory.mktemp("fuzz"))
    overrides = {"instance_id": "fuzz", "max_live_lessons": 20}
    with running_intake(idle_stack, workdir, "fuzz", **overrides) as intake:
        yield intake


@pytest.fixture(scope="module")
def fuzz_api(fuzzed: Intake) -> Iterator[httpx.Client]:
    with fuzzed.client() as client:
        yield client


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=requests())
@example(request=(b'{"lesson": "linux-basics", "session_id": "fuzz-s"}', "application/json"))
@example(request=(b"[" * 200_000, "application/json"))
@example(request=(b'{"session_id": "s", "definition": {"name": "\\ud800"}}', "application/json"))
@example(request=(b'{"session_id": "s", "lesson": "linux-basics\\u0000"}', "application/json"))
@example(request=(b'{"session_id": 1e999, "lesson": -Infinity}', "application/json"))
@example(request=(json.dumps({"session_id": "s", "k": "x" * 2_000_000}).encode(), None))
def test_post_lessons_never_answers_500(
    fuzz_api: httpx.Client, request: tuple[bytes, str | None]
) -> None:
    content, content_type = request
    headers = {"content-type": content_type} if content_type else {}
    response = fuzz_api.post(LESSONS, content=content, headers=headers)
    assert response.status_code in EXPECTED, (response.status_code, response.text)
    body = response.json()
    if response.status_code == 202:
        assert {"id", "state", "status_url"} <= set(body)
    else:
        assert set(body) == {"error", "message", "detail"}
