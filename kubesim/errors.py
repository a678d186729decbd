"""API errors as kube-apiserver words them: a metav1.Status with reason, code, message, details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass
class Cause:
    reason: str
    message: str
    field: str

    def to_json(self) -> JSON:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class ApiError(Exception):
    code: int
    reason: str
    message: str
    details: JSON | None = None
    headers: dict[str, str] = field(default_factory=dict)
    plain: bool = False  # answered as text (Go's http.NotFound), not as a Status

    def status(self) -> JSON:
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:  # StatusReasonUnknown is left out (an error that is no Status)
            del body["reason"]
        if self.details is not None:
            body["details"] = self.details
        return body

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"


def _details(name: str | None, group: str, kind: str, **extra: Any) -> JSON:
    details: JSON = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    details.update(extra)
    return details


def qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _about(code: int, reason: str, message: str, resource: str, group: str, name: str) -> ApiError:
    """An error about one object; its details name the resource (plural), as the apiserver's do."""
    return ApiError(code, reason, message, _details(name, group, resource))


def not_found(resource: str, group: str, name: str) -> ApiError:
    message = f'{qualified(resource, group)} "{name}" not found'
    return _about(404, "NotFound", message, resource, group, name)


def already_exists(resource: str, group: str, name: str) -> ApiError:
    message = f'{qualified(resource, group)} "{name}" already exists'
    return _about(409, "AlreadyExists", message, resource, group, name)


def conflict(resource: str, group: str, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}'
    return _about(409, "Conflict", message, resource, group, name)


STALE_OBJECT = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def forbidden(resource: str, group: str, name: str, why: str) -> ApiError:
    target = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    return _about(403, "Forbidden", f"{target} is forbidden: {why}", resource, group, name)


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    errors = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    summary = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{qualified(kind, group)} "{name}" is invalid: {summary}',
        _details(name, group, kind, causes=[c.to_json() for c in causes]),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def request_entity_too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def method_not_allowed() -> ApiError:
    """A method no handler serves on the path (go-restful's 405, as the apiserver words it)."""
    return ApiError(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        {},
    )


def unsupported_media_type(accepted: list[str]) -> ApiError:
    """A body the handler cannot decode (negotiation.NewUnsupportedMediaTypeError)."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)}",
    )


def unsupported_patch_type() -> ApiError:
    """A patch type the route does not consume: go-restful refuses it before any handler."""
    return ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})


def path_not_found() -> ApiError:
    """A path under an API the apiserver serves itself (go-restful's 404, as a Status)."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def page_not_found() -> ApiError:
    """A path no built-in API owns: unknown groups, and the CRD handler's misses (it hands them
    to a plain http.NotFound)."""
    return ApiError(404, "", "404 page not found", plain=True)


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        {"retryAfterSeconds": retry_after},
        {"Retry-After": str(retry_after)},
    )


def internal_error(why: str) -> ApiError:
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {why}",
        {"causes": [{"message": why}]},
    )


def unknown(message: str) -> ApiError:
    """An error that is no Status (a plain Go error): a 500 with no reason nor details."""
    return ApiError(500, "", message)


def service_unavailable(why: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", why)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
