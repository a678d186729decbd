"""Bodies and requests the intake refuses: 422 naming the field, 413, 405, in one shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scheduler.intake.gate import MAX_BODY_BYTES
from tests.api.helpers import LESSONS, assert_error, problem_fields

LESSON = {
    "name": "One host",
    "slug": "one-host",
    "endpoints": [
        {
            "name": "h1",
            "image": "utility",
            "presentations": [{"name": "cli", "port": 22, "type": "ssh"}],
        }
    ],
}


def broken(**changes: Any) -> dict[str, Any]:
    return {**LESSON, **changes}


def endpoint(**changes: Any) -> dict[str, Any]:
    return {**LESSON["endpoints"][0], **changes}  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"lesson": "linux-basics"}, {"session_id"}),
        ({"lesson": "linux-basics", "session_id": "has space"}, {"session_id"}),
        ({"lesson": "linux-basics", "session_id": ""}, {"session_id"}),
        ({"lesson": "linux-basics", "session_id": "x" * 65}, {"session_id"}),
        ({"lesson": "linux-basics", "session_id": "nul\u0000byte"}, {"session_id"}),
        ({"lesson": "linux-basics", "session_id": "s\u00e9ance"}, {"session_id"}),
        ({"lesson": "linux-basics", "session_id": 42}, {"session_id"}),
        ({"lesson": "linux-basics", "session_id": ["s"]}, {"session_id"}),
        ({"lesson": 7, "session_id": "s"}, {"lesson"}),
        ({"definition": "lesson.meta.yaml", "session_id": "s"}, {"definition"}),
        ({"lesson": "linux-basics", "session_id": "s", "sesion_id": "s"}, {"sesion_id"}),
        ({"session_id": "s"}, {"body"}),
        ({"lesson": "linux-basics", "definition": LESSON, "session_id": "s"}, {"body"}),
    ],
)
def test_invalid_body_is_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], fields: set[str]
) -> None:
    assert problem_fields(api.post(LESSONS, json=body)) == fields


def test_neither_or_both_sources_name_both_fields(api: httpx.Client) -> None:
    body = assert_error(api.post(LESSONS, json={"session_id": "s"}), 422, "invalid_request")
    assert "'lesson'" in body["detail"][0]["message"]
    assert "'definition'" in body["detail"][0]["message"]


@pytest.mark.parametrize(
    ("definition", "fields"),
    [
        ([], {"definition"}),
        ({k: v for k, v in LESSON.items() if k != "name"}, {"definition.name"}),
        (broken(slug="Not A Slug"), {"definition.slug"}),
        (broken(endpoints=[]), {"definition.endpoints"}),
        (broken(endpoints=[endpoint(name="Router1")]), {"definition.endpoints[0].name"}),
        (broken(endpoints=[endpoint(image="nope")]), {"definition.endpoints[0].image"}),
        (
            broken(endpoints=[endpoint(presentations=[{"name": "cli", "port": 0, "type": "ssh"}])]),
            {"definition.endpoints[0].presentations[0].port"},
        ),
        (
            broken(endpoints=[endpoint(additionalPorts=["22"])]),
            {"definition.endpoints[0].additionalPorts[0]"},
        ),
        (broken(connections=[{"a": "h1", "b": "ghost"}]), {"definition.connections[0].b"}),
        (broken(readyDelay=-1), {"definition.readyDelay"}),
        (broken(colour="blue"), {"definition.colour"}),
        (
            broken(endpoints=[endpoint(), endpoint()]),
            {"definition.endpoints[1].name"},
        ),
        (
            broken(endpoints=[endpoint(name=f"h{i}") for i in range(40)]),
            {"definition.endpoints"},
        ),
    ],
)
def test_broken_inline_definition_names_each_problem_field(
    api: httpx.Client, definition: Any, fields: set[str]
) -> None:
    response = api.post(LESSONS, json={"definition": definition, "session_id": "s"})
    assert problem_fields(response) == fields


def test_many_problems_are_cut_short(api: httpx.Client) -> None:
    definition = broken(tags=[1] * 500)
    body = assert_error(
        api.post(LESSONS, json={"definition": definition, "session_id": "s"}),
        422,
        "invalid_request",
    )
    assert len(body["detail"]) == 51
    assert body["detail"][-1]["message"] == "... and 450 more problems"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"{", "application/json"),
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (b"null", "application/json"),
        (b'{"lesson": "linux-basics", "session_id": NaN}', "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"[" * 100_000, "application/json"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
        (b'{"lesson": "linux-basics", "session_id": "s"}', "text/plain"),
        (b'{"lesson": "linux-basics", "session_id": "s"}', None),
        (b"lesson=linux-basics&session_id=s", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_422(
    api: httpx.Client, content: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert problem_fields(api.post(LESSONS, content=content, headers=headers)) == {"body"}


def test_nesting_within_the_parser_limit_is_still_refused_cleanly(api: httpx.Client) -> None:
    # 190 levels with the body's own: just under the parser's limit of 200.
    deep: Any = "leaf"
    for _ in range(93):
        deep = {"k": [deep]}
    body = {"definition": broken(stages=deep, tags=deep), "session_id": "s"}
    fields = problem_fields(api.post(LESSONS, json=body))
    assert fields == {"definition.stages", "definition.tags"}


def test_unicode_and_lone_surrogates_are_answered_in_ascii_json(api: httpx.Client) -> None:
    content = json.dumps({"lesson": "linux-basics", "session_id": "s", "\u00fcber\u2603": 1})
    response = api.post(LESSONS, content=content, headers={"content-type": "application/json"})
    assert problem_fields(response) == {"\u00fcber\u2603"}
    assert response.content.isascii()
    surrogate = b'{"lesson": "linux-basics", "session_id": "\\ud800"}'
    response = api.post(LESSONS, content=surrogate, headers={"content-type": "application/json"})
    assert problem_fields(response) == {"body"}


def test_a_huge_body_is_413(api: httpx.Client) -> None:
    padding = "x" * MAX_BODY_BYTES
    response = api.post(LESSONS, json={"lesson": "linux-basics", "session_id": "s", "p": padding})
    assert_error(response, 413, "content_too_large")


def test_a_huge_chunked_body_is_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"lesson": "linux-basics", "session_id": "s", "p": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = api.post(LESSONS, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "content_too_large")


def test_wrong_method_and_unknown_path_answer_in_the_same_shape(api: httpx.Client) -> None:
    response = api.put(LESSONS, json={})
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]
    assert_error(api.get("/v1/nothing-here"), 404, "not_found")
    assert_error(api.get("/nothing-here"), 404, "not_found")
