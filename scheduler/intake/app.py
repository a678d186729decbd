"""The intake application: routers, error handlers and the gate, put together."""

from __future__ import annotations

import ipaddress
import logging

import redis
import uvicorn
from fastapi import Depends, FastAPI
from fastapi.security import HTTPBearer

from config import logs
from config.settings import Settings, current_settings
from lessons.curriculum import Curriculum
from registry import LessonRegistry, connect
from scheduler.client import LessonClient
from scheduler.intake.errors import install_error_handlers
from scheduler.intake.gate import Gate
from scheduler.intake.lessons import catalog_router, lessons_router, pools_router
from scheduler.intake.service import service_router

log = logging.getLogger("lessonq.intake")

DESCRIPTION = """\
Ask for network-device lessons for a session, follow them until READY, keep them alive and
tear them down. Every error answers with the same JSON shape (`ErrorBody`).
"""


def report(curriculum: Curriculum) -> None:
    """Every problem and warning of the curriculum, once, as `file:field: message`."""
    for problem in curriculum.problems:
        log.warning("curriculum problem: %s", problem)
    for warning in curriculum.warnings:
        log.warning("curriculum warning: %s", warning)
    if curriculum.broken:
        log.warning(
            "serving %d lessons; left out for their problems: %s",
            len(curriculum.lessons),
            ", ".join(sorted(curriculum.broken)),
        )


def create_app(settings: Settings | None = None, client: LessonClient | None = None) -> FastAPI:
    """The intake for `settings` (default: the client's, else LESSONQ_* from the environment).

    The curriculum is read here, and its problems logged: the broken lessons are left out, the
    others served (with LESSONQ_CURRICULUM_STRICT, a problem stops the service at start).
    """
    if client is None:
        settings = settings or current_settings()
        client = LessonClient(settings, registry=intake_registry(settings))
    settings = settings or client.settings
    report(client.curriculum)

    app = FastAPI(title="lessonq intake", description=DESCRIPTION, version="1")
    install_error_handlers(app)
    app.add_middleware(Gate, token=settings.api_token)
    # The token is checked by the Gate, before the body is read; this dependency only
    # declares the scheme in the OpenAPI document.
    bearer = HTTPBearer(auto_error=False, description="LESSONQ_API_TOKEN")
    secured = [Depends(bearer)] if settings.api_token is not None else []
    app.include_router(lessons_router(client), dependencies=secured)
    app.include_router(pools_router(client), dependencies=secured)
    app.include_router(catalog_router(client), dependencies=secured)
    app.include_router(service_router(settings, client.curriculum))
    return app


def intake_connection(settings: Settings) -> redis.Redis:
    """A Redis client whose retries of a failed call pause for at most
    LESSONQ_INTAKE_REDIS_RETRY seconds in all (each attempt bounded by its socket timeouts).

    A worker's client rides out a Redis restart, which is right for a task; a request would
    hold one of the intake's threads all that time, and a caller is better told 503 soon.
    """
    return connect(settings.redis_url, settings.intake_redis_retry)


def intake_registry(settings: Settings) -> LessonRegistry:
    return LessonRegistry(intake_connection(settings), settings)


def loopback(host: str) -> bool:
    """Whether listening on `host` keeps the service to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" (every address) or a name that may resolve anywhere


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the intake with uvicorn until interrupted."""
    # uvicorn's loggers go through the root logger: JSON lines when LESSONQ_LOG_JSON is set.
    logs.configure(settings)
    app = create_app(settings)
    if settings.api_token is None and not loopback(host):
        log.warning(
            "listening on %s:%s without LESSONQ_API_TOKEN: anyone who reaches it can ask for, "
            "see and tear down lessons",
            host,
            port,
        )
    uvicorn.run(app, host=host, port=port, server_header=False, log_config=None)
