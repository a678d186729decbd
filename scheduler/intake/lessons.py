"""/v1/lessons, /v1/pools and /v1/catalog: the LessonClient over HTTP.

Endpoints are plain functions: FastAPI runs them in its thread pool, so the blocking Redis
calls and the Celery send never stall the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from lessons.curriculum import BrokenLessonError, LessonError, UnknownLessonError, parse_lesson
from lessons.model import Lesson
from lessons.state import REACHABLE, LessonRecord
from registry import LESSON_ID_FORMAT
from scheduler.api_models import (
    LESSONS_PATH,
    Catalog,
    CreateLesson,
    ErrorBody,
    FieldProblem,
    LessonList,
    LessonStatus,
    LessonSummary,
    PoolList,
    PoolSizes,
    SessionId,
    SetStage,
)
from scheduler.client import LessonClient, PoolSizeError, StageError
from scheduler.intake.errors import definition_problems, invalid, not_found
from scheduler.intake.gate import holds_token
from scheduler.intake.jsonbody import JsonRoute

# Where an inline lesson's problems point: its place in the request body.
DEFINITION = "definition"
# The problems of a broken lesson named in its 404; the catalog has them all.
MAX_SHOWN = 5

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 404, 413, 422, 503)
}


def _lesson(client: LessonClient, body: CreateLesson) -> Lesson:
    """The lesson asked for: a curriculum lesson by slug, or a checked inline definition."""
    if body.lesson is not None:
        try:
            # Looked up by slug only: the client would also read a path ending in .yaml.
            return client.curriculum.lesson(body.lesson)
        except UnknownLessonError as error:
            raise not_found(error.problems[0].message) from None
        except BrokenLessonError as error:
            raise not_found(_broken(error, client)) from None
    try:
        return parse_lesson(body.definition, DEFINITION, client.curriculum.images, client.limits)
    except LessonError as error:
        raise invalid(definition_problems(error, DEFINITION)) from None


def _broken(error: BrokenLessonError, client: LessonClient) -> str:
    root = client.curriculum.root
    shown = [str(problem.relative_to(root)) for problem in error.problems[:MAX_SHOWN]]
    more = len(error.problems) - len(shown)
    if more:
        shown.append(f"and {more} more (GET /v1/catalog lists them)")
    return f"lesson {error.slug!r} is left out of the curriculum: " + "; ".join(shown)


def lessons_router(client: LessonClient) -> APIRouter:
    router = APIRouter(
        prefix=LESSONS_PATH, tags=["lessons"], route_class=JsonRoute, responses=_ERRORS
    )

    def status(record: LessonRecord, request: Request) -> LessonStatus:
        """The lesson; once it is up, how to reach it, with the devices' logins only for
        callers that showed the API token."""
        plan = client.registry.plan(record.id) if record.state in REACHABLE else None
        return LessonStatus.with_access(record, plan, credentials=holds_token(request))

    def known_id(lesson_id: str) -> str:
        if LESSON_ID_FORMAT.fullmatch(lesson_id) is None:
            raise not_found("no lesson with this id")
        return lesson_id

    @router.post(
        "",
        status_code=202,
        responses={429: {"model": ErrorBody, "description": "too many live lessons"}},
    )
    def create_lesson(body: CreateLesson, request: Request, response: Response) -> LessonStatus:
        """Ask for a lesson for a session; the same lesson and session again give the same
        live lesson. Provisioning goes on after the answer: follow `status_url`."""
        try:
            record = client.create(_lesson(client, body), body.session_id, body.stage)
        except StageError as error:
            raise invalid([FieldProblem(field="stage", message=str(error))]) from None
        response.headers["Location"] = f"{LESSONS_PATH}/{record.id}"
        return status(record, request)

    # The session is required: a listing of every session's lessons would hand out the ids
    # that keepalive and DELETE act on, and read every record. Operators have `lessonq list`.
    @router.get("")
    def list_lessons(session: Annotated[SessionId, Query()]) -> LessonList:
        """A session's live lessons (not those tearing down or gone), oldest first."""
        return LessonList(lessons=[LessonSummary.of(record) for record in client.list(session)])

    @router.get("/{lesson_id}")
    def get_lesson(lesson_id: str, request: Request) -> LessonStatus:
        """A lesson's state and progress; once READY, its endpoints and guide."""
        return status(client.status(known_id(lesson_id)), request)

    @router.post("/{lesson_id}/keepalive")
    def keep_alive(lesson_id: str, request: Request) -> LessonStatus:
        """Reset the lesson's idle clock (`expires_at`). A lesson no longer live is unchanged."""
        return status(client.keepalive(known_id(lesson_id)), request)

    @router.post(
        "/{lesson_id}/stage",
        status_code=202,
        responses={409: {"model": ErrorBody, "description": "the lesson is not READY"}},
    )
    def set_stage(lesson_id: str, body: SetStage, request: Request) -> LessonStatus:
        """Move a READY lesson to a stage: CONFIGURING while its devices are configured for it,
        then READY again. Its current stage configures them afresh (resets the devices)."""
        try:
            return status(client.set_stage(known_id(lesson_id), body.stage), request)
        except StageError as error:
            raise invalid([FieldProblem(field="stage", message=str(error))]) from None

    @router.delete("/{lesson_id}", status_code=202)
    def tear_down(lesson_id: str, request: Request) -> LessonStatus:
        """Start tearing the lesson down; it ends GONE."""
        return status(client.teardown(known_id(lesson_id)), request)

    return router


def pools_router(client: LessonClient) -> APIRouter:
    router = APIRouter(prefix="/v1/pools", tags=["pools"], route_class=JsonRoute, responses=_ERRORS)

    @router.get("")
    def pools() -> PoolList:
        """Every warm pool: its size, its READY and provisioning lessons, its claims, misses
        and refills."""
        return PoolList(pools=client.pools())

    @router.put("")
    def set_pools(body: PoolSizes) -> PoolList:
        """Set warm pools' sizes (0 empties one; the others keep theirs); the workers refill
        them at once. Unknown slugs change nothing."""
        try:
            return PoolList(pools=client.set_pools(body.sizes))
        except PoolSizeError as error:
            raise invalid(
                [FieldProblem(field=f"sizes.{slug}", message=why) for slug, why in error.problems]
            ) from None

    return router


def catalog_router(client: LessonClient) -> APIRouter:
    router = APIRouter(
        prefix="/v1/catalog", tags=["catalog"], responses={401: {"model": ErrorBody}}
    )
    # The curriculum is read once, at start: so is its catalog.
    answer = Catalog.of(client.curriculum)

    @router.get("")
    def catalog() -> Catalog:
        """The lessons of the curriculum this instance serves (LESSONQ_TIER), by slug, and the
        problems of those left out."""
        return answer

    return router
