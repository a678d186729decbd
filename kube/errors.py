"""What a failed Kubernetes API call means for lessonq, sorted once, here.

``TransientError`` (5xx, 429 with its Retry-After, 408, connection errors, timeouts, a watch that
fell behind: try again later) and ``PermanentError`` (any other refusal, carrying the API's own
message, or an object that belongs to someone else).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from kubernetes.client.exceptions import ApiException


class KubeError(Exception):
    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


class TransientError(KubeError):
    """Worth retrying: the API was unavailable, overloaded or slow."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, status=status, reason=reason)
        self.retry_after = retry_after


class PermanentError(KubeError):
    """The API refused for good (or the object belongs to someone else)."""


_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify(error: ApiException) -> KubeError:
    """An ApiException as a TransientError or a PermanentError with the Status message."""
    return from_response(int(error.status or 0), error.reason, error.body, error.headers)


def from_response(
    code: int, reason: str | None, body: bytes | str | None, headers: Mapping[str, str] | None
) -> KubeError:
    """The error an answer that is not 2xx stands for, from its code, reason, body and headers."""
    try:
        status = json.loads(body) if body else {}
    except (TypeError, ValueError):
        status = {}
    return from_status(code, reason, status, headers)


def from_status(
    code: int, reason: str | None, status: object, headers: Mapping[str, str] | None = None
) -> KubeError:
    """The error a failure Status (or a bare HTTP code and reason) stands for."""
    message = f"{code} {reason}"
    if isinstance(status, dict) and status.get("kind") == "Status":
        reason = status.get("reason") or reason
        message = str(status.get("message") or message)
    if code in _TRANSIENT_STATUSES or code >= 500 or code == 0:
        return TransientError(
            message, status=code, reason=reason, retry_after=_retry_after(headers)
        )
    if code == 410:
        # A watch fell too far behind (Expired/Gone): list again and carry on.
        return TransientError(message, status=code, reason=reason, retry_after=0)
    return PermanentError(message, status=code, reason=reason)
