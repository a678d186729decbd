"""One shape for every error the intake answers (`ErrorBody`), and the handlers that give it.

Error answers are rendered as ASCII-only JSON: a message may quote a field name the caller
sent, and escaping keeps any character (even a lone surrogate) from breaking the answer.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lessons.curriculum import WHOLE_FILE, LessonError
from registry import AdmissionRefused, LessonNotFound, StageConflict
from scheduler.api_models import ErrorBody, FieldProblem

log = logging.getLogger(__name__)

# The `error` code of each status the intake gives; any other uses its HTTP phrase.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "content_too_large",
    422: "invalid_request",
    429: "too_many_lessons",
    500: "internal_error",
    503: "unavailable",
}
# A body can hold thousands of mistakes; the first ones are enough to fix it, and the answer
# stays small.
MAX_PROBLEMS = 50
MAX_FIELD = 200
# What pydantic reports when the body is not a JSON object at all.
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "model_type", "dict_type"})


class ApiError(HTTPException):
    """An error answer: raise it anywhere while handling a request."""

    def __init__(self, status: int, message: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(status, message)
        self.message = message
        self.problems = list(problems)


def _clip(text: str, limit: int = MAX_FIELD) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_response(
    status: int,
    message: str,
    problems: Sequence[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    shown = list(problems[:MAX_PROBLEMS])
    if len(problems) > len(shown):
        more = len(problems) - len(shown)
        shown.append(FieldProblem(field="body", message=f"... and {more} more problems"))
    code = _CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    body = ErrorBody(error=code, message=message, detail=shown)
    content = json.dumps(body.model_dump(mode="json"), ensure_ascii=True)
    return Response(content, status, dict(headers or {}), media_type="application/json")


def not_found(what: str) -> ApiError:
    return ApiError(404, what)


def invalid(problems: Sequence[FieldProblem]) -> ApiError:
    fields = ", ".join(dict.fromkeys(problem.field for problem in problems[:5]))
    return ApiError(422, f"invalid request: {fields}", problems)


def definition_problems(error: LessonError, field: str) -> list[FieldProblem]:
    """The problems of an inline lesson, each under `field` (its place in the body)."""
    return [
        FieldProblem(
            field=_clip(field if problem.field == WHOLE_FILE else f"{field}.{problem.field}"),
            message=problem.message,
        )
        for problem in error.problems
    ]


def _validation_problem(error: Mapping[str, Any]) -> FieldProblem:
    kind, ctx = error["type"], error.get("ctx") or {}
    # loc starts with where the value came from ("body", "query"); the rest is the field.
    # Only the body as a whole has no field: a JSON syntax error, or not an object at all.
    path = "" if kind == "json_invalid" else ".".join(str(part) for part in error["loc"][1:])
    if kind == "json_invalid":
        message = f"is not valid JSON: {ctx.get('error', '')}"
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    elif kind == "extra_forbidden":
        message = "is not a field of this request"
    elif not path and kind in _NOT_AN_OBJECT:
        message = "must be a JSON object (sent as Content-Type: application/json)"
    elif not path and kind == "missing":
        message = "is required: a JSON object"
    else:
        message = error["msg"]
    return FieldProblem(field=_clip(path) or "body", message=message)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.message, exc.problems)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _on_invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [_validation_problem(error) for error in exc.errors()]
    return await _on_http_error(request, invalid(problems))


async def _on_not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LessonNotFound)
    return error_response(404, str(exc))


async def _on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdmissionRefused)
    # Retry-After takes whole seconds; round up so that a retry is never too early.
    retry_after = str(max(1, math.ceil(exc.retry_after)))
    return error_response(429, str(exc), headers={"Retry-After": retry_after})


async def _on_conflict(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StageConflict)
    return error_response(409, str(exc))


async def _on_unavailable(request: Request, exc: Exception) -> Response:
    # Redis or the broker is down: the request may well succeed later, so not a 500.
    log.warning("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(
        503, "the lesson registry or the task broker is unreachable; try again later"
    )


async def _on_bug(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(LessonNotFound, _on_not_found)
    app.add_exception_handler(AdmissionRefused, _on_refused)
    app.add_exception_handler(StageConflict, _on_conflict)
    app.add_exception_handler(RedisError, _on_unavailable)
    app.add_exception_handler(BrokerError, _on_unavailable)
    # Anything else is a bug; it still answers in the same shape.
    app.add_exception_handler(Exception, _on_bug)
