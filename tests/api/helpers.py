"""Small helpers of the API tests: waiting for a state, checking the error shape."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import httpx

LESSONS = "/v1/lessons"


def wait_for_state(
    api: httpx.Client, lesson_id: str, states: Collection[str], timeout: float = 60
) -> dict[str, Any]:
    """Poll the lesson until its state is one of `states`; TimeoutError after `timeout` s."""
    give_up = time.monotonic() + timeout
    while True:
        response = api.get(f"{LESSONS}/{lesson_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] in states:
            return body
        if time.monotonic() > give_up:
            raise TimeoutError(f"lesson {lesson_id} still {body['state']}: {body}")
        time.sleep(0.1)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an error in the intake's one shape; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "detail"}, body
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    for problem in body["detail"]:
        assert set(problem) == {"field", "message"} and problem["message"], problem
    return body


def problem_fields(response: httpx.Response) -> set[str]:
    """The fields a 422 names."""
    body = assert_error(response, 422, "invalid_request")
    return {problem["field"] for problem in body["detail"]}


def create(api: httpx.Client, session_id: str, **body: Any) -> dict[str, Any]:
    """Ask for a lesson; it must be accepted."""
    response = api.post(LESSONS, json={"session_id": session_id, **body})
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created
