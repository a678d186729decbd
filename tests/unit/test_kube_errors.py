"""What a failed Kubernetes API call means (``kube.errors``): transient or permanent, with the
Status's own message and reason, and the server's Retry-After."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from kube.errors import (
    KubeError,
    PermanentError,
    TransientError,
    classify,
    from_response,
    from_status,
)


def api_exception(
    status: int | None,
    reason: str | None,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> ApiException:
    error = ApiException(status=status, reason=reason)
    error.body = body
    error.headers = headers
    return error


def status_body(code: int, reason: str | None, message: str | None) -> str:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    if reason is not None:
        status["reason"] = reason
    if message is not None:
        status["message"] = message
    return json.dumps(status)


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 505, 507, 599])
def test_overload_timeouts_and_server_errors_are_transient(code: int) -> None:
    error = classify(api_exception(code, "Whatever"))

    assert isinstance(error, TransientError)
    assert (error.status, error.reason, error.message) == (code, "Whatever", f"{code} Whatever")
    assert error.retry_after is None


@pytest.mark.parametrize("code", [200, 301, 400, 401, 403, 404, 405, 409, 415, 422])
def test_every_other_code_is_permanent(code: int) -> None:
    error = classify(api_exception(code, "Nope"))

    assert type(error) is PermanentError
    assert (error.status, error.reason, error.message) == (code, "Nope", f"{code} Nope")


def test_a_watch_too_far_behind_is_transient_and_retried_at_once() -> None:
    body = status_body(410, "Expired", "too old resource version: 1 (2)")

    error = classify(api_exception(410, "Gone", body, {"Retry-After": "30"}))

    assert isinstance(error, TransientError)
    assert (error.status, error.reason, error.retry_after) == (410, "Expired", 0)
    assert error.message == "too old resource version: 1 (2)"


def test_no_status_at_all_is_a_connection_error_and_transient() -> None:
    error = classify(api_exception(None, "Connection refused"))

    assert isinstance(error, TransientError)
    assert error.status == 0
    assert error.message == "0 Connection refused"


def test_a_status_body_gives_its_message_and_reason() -> None:
    message = 'pods "r1" is forbidden: exceeded quota: lessons, requested: pods=1'
    body = status_body(403, "Forbidden", message)

    error = classify(api_exception(403, "Forbidden by proxy", body))

    assert isinstance(error, PermanentError)
    assert (error.message, error.reason, error.status) == (message, "Forbidden", 403)


def test_a_status_body_without_message_or_reason_keeps_the_http_ones() -> None:
    error = from_response(409, "Conflict", status_body(409, None, None), None)

    assert (error.message, error.reason) == ("409 Conflict", "Conflict")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("<html><body>502 Bad Gateway</body></html>", id="html"),
        pytest.param(b"\xff\xfe not utf-8", id="undecodable"),
        pytest.param(json.dumps({"kind": "Pod", "message": "not a Status"}), id="other-kind"),
        pytest.param(json.dumps(["a", "list"]), id="list"),
        pytest.param("null", id="null"),
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
    ],
)
def test_a_body_that_is_not_a_status_is_ignored(body: str | bytes | None) -> None:
    error = from_response(502, "Bad Gateway", body, None)

    assert isinstance(error, TransientError)
    assert (error.message, error.reason) == ("502 Bad Gateway", "Bad Gateway")


def test_a_body_of_the_wrong_type_is_ignored() -> None:
    error = from_response(400, "Bad Request", 42, None)  # type: ignore[arg-type]

    assert (error.message, error.reason) == ("400 Bad Request", "Bad Request")


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Content-Type": "application/json"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_is_taken_when_it_is_a_number_of_seconds(
    headers: dict[str, str] | None, retry_after: float | None
) -> None:
    body = status_body(429, "TooManyRequests", "slow down")

    error = classify(api_exception(429, "Too Many Requests", body, headers))

    assert isinstance(error, TransientError)
    assert error.retry_after == retry_after
    assert (error.message, error.reason) == ("slow down", "TooManyRequests")


def test_a_permanent_error_has_no_retry_after() -> None:
    error = from_response(403, "Forbidden", None, {"Retry-After": "5"})

    assert isinstance(error, PermanentError)
    assert not hasattr(error, "retry_after")


def test_a_watch_error_event_is_sorted_from_its_status_object() -> None:
    status = json.loads(status_body(500, "InternalError", "etcd is unhappy"))

    error = from_status(500, None, status)

    assert isinstance(error, TransientError)
    assert (error.message, error.reason, error.status) == ("etcd is unhappy", "InternalError", 500)


def test_errors_carry_their_message_as_their_text() -> None:
    error: KubeError = TransientError("busy", status=503, reason="ServiceUnavailable")

    assert str(error) == error.message == "busy"
    assert isinstance(error, KubeError) and isinstance(PermanentError("x"), KubeError)
