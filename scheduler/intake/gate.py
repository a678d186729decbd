"""What every request passes before anything reads it: bearer auth, and a body limit.

Both run as ASGI middleware rather than as FastAPI dependencies because FastAPI reads and
parses the body before it solves dependencies: a caller without the token must not get as far
as having a megabyte of JSON parsed, nor learn from a 422 what the API expects.

With a token set, every path needs it except `OPEN_PATHS`: probes, metrics and the API's
documents. Paths are compared as the routes see them, without the `root_path` the server was
started under (uvicorn's --root-path puts it in front of the request's path). A request that
showed the token is marked so (`holds_token`): only those see the devices' logins.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler.intake.errors import ApiError, error_response

# What needs no token, by route path; anything else does, unknown paths included.
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
# Far more than any lesson needs (32 endpoints and 64 links fit in a few kilobytes), small
# enough that parsing the largest body accepted stays cheap.
MAX_BODY_BYTES = 1024 * 1024
_TOO_LARGE = f"the request body is larger than {MAX_BODY_BYTES} bytes"
# The request's state key the Gate sets when the request showed the API token.
_HOLDS_TOKEN = "lessonq_holds_token"


def holds_token(request: Request) -> bool:
    """Whether the request passed the Gate with the API token (never when none is set)."""
    return getattr(request.state, _HOLDS_TOKEN, False) is True


def route_path(scope: Scope) -> str:
    """The request's path as the routes see it: without the root path in front."""
    path: str = scope["path"]
    root = scope.get("root_path", "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


class Gate:
    def __init__(
        self, app: ASGIApp, token: SecretStr | None, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self._token = token.get_secret_value().encode() if token is not None else None
        self._max_body = max_body

    def _authorized(self, headers: Headers) -> bool:
        """Whether the request shows the token (never when none is set)."""
        if self._token is None:
            return False
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        # Header values arrive as latin-1 text; back to their bytes, compared in constant time
        # (hmac.compare_digest refuses non-ASCII str, but not bytes).
        given = credentials.strip().encode("latin-1")
        return scheme.lower() == "bearer" and hmac.compare_digest(given, self._token)

    def _refusal(self, path: str, headers: Headers, authorized: bool) -> Response | None:
        """The answer to a request that goes no further, if it is one."""
        if self._token is not None and path not in OPEN_PATHS and not authorized:
            # RFC 6750: no error code when no credentials were sent at all.
            challenge = 'Bearer realm="lessonq"'
            if "authorization" in headers:
                challenge += ', error="invalid_token"'
            return error_response(
                401,
                "this endpoint needs an 'Authorization: Bearer <token>' header with the API token",
                headers={"WWW-Authenticate": challenge},
            )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            return error_response(413, _TOO_LARGE)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        authorized = self._authorized(headers)
        refusal = self._refusal(route_path(scope), headers, authorized)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if authorized:
            scope.setdefault("state", {})[_HOLDS_TOKEN] = True
        await self.app(scope, self._limited(receive), send)

    def _limited(self, receive: Receive) -> Receive:
        """`receive`, refusing a body that grows past the limit (chunked bodies declare none)."""
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_body:
                    # Raised where the route reads the body; the error handlers answer it.
                    raise ApiError(413, _TOO_LARGE)
            return message

        return limited
