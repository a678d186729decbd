"""Routes whose JSON bodies are parsed with a nesting limit.

FastAPI parses bodies with the standard library, which recurses once per level of nesting: a
megabyte of `[[[[...` exhausts the interpreter's recursion limit, and a body nested just below
it makes every later step that walks it (validation, error messages) recurse as deep. pydantic's
parser stops at a fixed depth (far below Python's limit) and refuses NaN and Infinity, which are
not JSON. Its errors are handed to FastAPI as the JSONDecodeError it turns into a 422.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class _Request(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body, allow_inf_nan=False)
            except ValueError as error:
                # The document is left out: FastAPI would keep it, and nothing needs it.
                raise json.JSONDecodeError(str(error), "", 0) from None
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(_Request(request.scope, request.receive))

        return handle
