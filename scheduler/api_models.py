"""The bodies of the HTTP intake: what a caller sends and what it gets back.

Field names are snake_case, like the Python client's. Times are RFC 3339 UTC timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)

from lessons.curriculum import Curriculum
from lessons.model import Category, GuideType, Lesson, PresentationType, Tier
from lessons.naming import SESSION_ID_MAX, validate_session_id
from lessons.plan import EndpointPlan, LessonPlan, PresentationPlan
from lessons.pool import PoolStatus
from lessons.state import Diagnostics, LessonRecord, LessonState, StepStatus
from lessons.steps import Step

LESSONS_PATH = "/v1/lessons"

SessionId = Annotated[
    str,
    Strict(),
    AfterValidator(validate_session_id),
    Field(
        description=f"1-{SESSION_ID_MAX} characters of letters, digits, '_' and '-'",
        examples=["session-42"],
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class CreateLesson(_Body):
    """Ask for a lesson: a curriculum slug or an inline lesson definition, for one session."""

    # Unknown fields are refused: a misspelt `sesion_id` should be an error, not ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)

    lesson: Annotated[str, Strict()] | None = Field(
        None, description="the slug of a curriculum lesson", examples=["linux-basics"]
    )
    definition: dict[str, Any] | None = Field(
        None, description="an inline lesson: the fields of a lesson.meta.yaml, as JSON"
    )
    session_id: SessionId
    stage: Annotated[int, Strict(), Field(ge=0)] = Field(
        0, description="the stage to configure the devices for (the lesson's first: 0)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> CreateLesson:
        if (self.lesson is None) == (self.definition is None):
            raise ValueError(
                "give exactly one of 'lesson' (a curriculum slug) and 'definition' "
                "(an inline lesson)"
            )
        return self


class SetStage(_Body):
    """Move a READY lesson to a stage (its current one: configure its devices afresh)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Annotated[int, Strict(), Field(ge=0)] = Field(examples=[1])


class Port(_Body):
    name: str = Field(examples=["cli"])
    port: int = Field(examples=[22])


def _is_none(value: object) -> bool:
    return value is None


class PresentationAccess(_Body):
    """A way into an endpoint, as the learner's front end shows it: a terminal (ssh), a web
    page (http)."""

    name: str = Field(examples=["cli"])
    type: PresentationType
    port: int = Field(examples=[22])
    host: str = Field(
        description="the endpoint's Service from inside the cluster",
        examples=["linux1.linux-basics-session-42-abcdefghij.svc"],
    )
    # Fields that do not apply are left out rather than null.
    url: str | None = Field(
        None,
        exclude_if=_is_none,
        description="http, with a presentation domain: the page, through its Ingress",
        examples=["https://bgp-spine-leaf-s1-abcdefghij-server1-web-abcdefghij.labs.example.com/"],
    )
    ssh_user: str | None = Field(
        None,
        exclude_if=_is_none,
        description="ssh: the image's login, when it has one; only to holders of the API token",
    )
    ssh_password: str | None = Field(None, exclude_if=_is_none, description="with `ssh_user`")

    @classmethod
    def of(
        cls, presentation: PresentationPlan, host: str, plan: LessonPlan, credentials: bool
    ) -> PresentationAccess:
        ingress = presentation.ingress
        return cls(
            name=presentation.name,
            type=presentation.type,
            port=presentation.port,
            host=host,
            url=plan.url(ingress) if ingress is not None else None,
            ssh_user=presentation.user if credentials else None,
            ssh_password=presentation.password if credentials else None,
        )


class EndpointAccess(_Body):
    """How to reach one device of a READY lesson."""

    name: str = Field(examples=["linux1"])
    service: str = Field(description="the Service name: resolves as-is inside the namespace")
    host: str = Field(
        description="the Service's name from outside the namespace",
        examples=["linux1.linux-basics-session-42-abcdefghij.svc"],
    )
    ports: list[Port]
    presentations: list[PresentationAccess]

    @classmethod
    def of(cls, endpoint: EndpointPlan, plan: LessonPlan, credentials: bool) -> EndpointAccess:
        """`credentials`: whether to show the ssh logins (to holders of the API token)."""
        # Every endpoint has a Service named after it (the `services` step).
        host = f"{endpoint.name}.{plan.namespace}.svc"
        return cls(
            name=endpoint.name,
            service=endpoint.name,
            host=host,
            ports=[Port(name=port.name, port=port.port) for port in endpoint.ports],
            presentations=[
                PresentationAccess.of(presentation, host, plan, credentials)
                for presentation in endpoint.presentations
            ],
        )


class GuideAccess(_Body):
    """The lesson's Jupyter guide: a notebook server over the lesson's files."""

    type: GuideType = GuideType.JUPYTER
    service: str = Field(examples=["jupyterlabguide"])
    host: str = Field(
        description="its Service from inside the cluster",
        examples=["jupyterlabguide.bgp-spine-leaf-session-42-abcdefghij.svc"],
    )
    port: int = Field(examples=[8888])
    url: str | None = Field(
        None, exclude_if=_is_none, description="with a presentation domain: through its Ingress"
    )

    @classmethod
    def of(cls, plan: LessonPlan) -> GuideAccess | None:
        guide = plan.guide
        if guide is None:
            return None
        return cls(
            service=guide.name,
            host=f"{guide.name}.{plan.namespace}.svc",
            port=guide.port,
            url=plan.url(guide.ingress) if guide.ingress is not None else None,
        )


class StepProgress(_Body):
    status: StepStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None


class LessonSummary(_Body):
    """A live lesson (or a recently GONE one) as the registry records it."""

    id: str = Field(examples=["3f9c2a7d51e04b86"])
    lesson: str
    session_id: str | None = Field(
        description="null only for a warm-pool lesson that no session has claimed yet"
    )
    from_pool: bool = Field(
        description="the lesson was provisioned for a warm pool and claimed READY (at "
        "`claimed_at`), instead of provisioned for this request"
    )
    claimed_at: datetime | None = None
    namespace: str
    state: LessonState
    current_step: str | None = Field(
        description="the steps running (or queued) now, comma-separated; null when none"
    )
    steps: dict[Step, StepProgress]
    healthy: int = Field(description="endpoints whose pod is ready")
    stage: int = Field(
        description="the stage the devices are configured for (or being configured for, while "
        "CONFIGURING)"
    )
    configured: int = Field(description="configured endpoints done with that stage")
    configurable: int = Field(description="endpoints a Job configures at every stage")
    total: int = Field(description="endpoints of the lesson")
    error: str | None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None = Field(
        description="torn down after this unless kept alive (null: an unclaimed pool lesson, "
        "which never expires)"
    )
    deadline: datetime = Field(description="fails if not READY by then")
    teardown_error: str | None = Field(
        None,
        description="set when a teardown runs past LESSONQ_TEARDOWN_TIMEOUT: why it has not "
        "finished (GC keeps trying)",
    )
    diagnostics: Diagnostics | None = Field(
        None,
        description="a FAILED lesson's pods that were not ready, as they were when it failed: "
        "why each waited, its last Events and the tail of its log (kept after its namespace "
        "goes)",
    )
    status_url: str = Field(examples=["/v1/lessons/3f9c2a7d51e04b86"])

    @classmethod
    def fields_of(cls, record: LessonRecord) -> dict[str, Any]:
        # Pydantic reads the record's Unix timestamps as UTC datetimes.
        return {
            **record.model_dump(
                exclude={"namespace_uid", "teardown_deadline", "pooled", "pool_version"}
            ),
            "from_pool": record.pooled,
            "steps": {
                step: StepProgress(
                    status=rec.status, started_at=rec.started_at, finished_at=rec.finished_at
                )
                for step, rec in record.steps.items()
            },
            "status_url": f"{LESSONS_PATH}/{record.id}",
        }

    @classmethod
    def of(cls, record: LessonRecord) -> LessonSummary:
        return cls.model_validate(cls.fields_of(record))


class LessonStatus(LessonSummary):
    """A lesson and, once it is READY, how to reach each of its endpoints and its guide."""

    endpoints: list[EndpointAccess] | None = Field(
        description="each endpoint's Service, ports and presentations; null until the lesson "
        "is READY"
    )
    guide: GuideAccess | None = Field(
        description="the Jupyter guide, for a lesson with one; null until the lesson is READY"
    )

    @classmethod
    def with_access(
        cls, record: LessonRecord, plan: LessonPlan | None, credentials: bool
    ) -> LessonStatus:
        """The lesson, with how to reach it when `plan` is given (READY, CONFIGURING)."""
        access: dict[str, Any] = {"endpoints": None, "guide": None}
        if plan is not None:
            access = {
                "endpoints": [
                    EndpointAccess.of(endpoint, plan, credentials) for endpoint in plan.endpoints
                ],
                "guide": GuideAccess.of(plan),
            }
        return cls.model_validate({**cls.fields_of(record), **access})


class LessonList(_Body):
    lessons: list[LessonSummary]


class CatalogLesson(_Body):
    slug: str
    name: str
    short_description: str
    description: str
    category: Category | None
    tier: Tier = Field(description="a lesson whose file names no tier is prod")
    collection: str | None
    tags: list[str]
    prereqs: list[str]
    endpoint_count: int
    link_count: int
    stage_count: int

    @classmethod
    def of(cls, lesson: Lesson) -> CatalogLesson:
        return cls(
            slug=lesson.slug,
            name=lesson.name,
            short_description=lesson.short_description,
            description=lesson.description,
            category=lesson.category,
            tier=lesson.tier or Tier.PROD,
            collection=lesson.collection,
            tags=lesson.tags,
            prereqs=lesson.prereqs,
            endpoint_count=len(lesson.endpoints),
            link_count=len(lesson.connections),
            stage_count=len(lesson.stages),
        )


class CatalogProblem(_Body):
    """A problem that keeps a lesson of the curriculum out: asked for, it is 404."""

    slug: str = Field(description="the lesson left out (its folder's name)")
    file: str = Field(
        description="relative to the curriculum folder: the lesson's file, an image's it uses, "
        "or the lesson folder",
        examples=["lessons/ospf-basics/lesson.meta.yaml"],
    )
    field: str = Field(
        description="where in that file; (file) or (folder) for the whole of it",
        examples=["endpoints[0].configurationType"],
    )
    message: str


class PoolSizes(_Body):
    """Set warm pools' sizes: READY lessons of each slug kept for sessions to claim."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sizes: dict[str, Annotated[int, Strict(), Field(ge=0)]] = Field(
        description="slug -> size (0 empties a pool); pools not named keep their size",
        examples=[{"linux-basics": 3, "snapshot-testing": 2}],
    )


class PoolList(_Body):
    pools: list[PoolStatus] = Field(description="every warm pool with a size, by slug")


class Catalog(_Body):
    lessons: list[CatalogLesson] = Field(description="the lessons served, by slug")
    problems: list[CatalogProblem] = Field(
        description="the lessons left out, by slug, each problem of theirs"
    )

    @classmethod
    def of(cls, curriculum: Curriculum) -> Catalog:
        """The catalog of a curriculum as it is served (its tiers only)."""
        lessons, broken = curriculum.lessons, curriculum.broken
        problems = [
            (slug, problem.relative_to(curriculum.root))
            for slug in sorted(broken)
            for problem in broken[slug].problems
        ]
        return cls(
            lessons=[CatalogLesson.of(lessons[slug]) for slug in sorted(lessons)],
            problems=[
                CatalogProblem(slug=slug, file=p.file, field=p.field, message=p.message)
                for slug, p in problems
            ],
        )


class Health(_Body):
    status: str = Field(examples=["ok"])


class FieldProblem(_Body):
    field: str = Field(
        description="where in the request: a body field path, a query parameter, or 'body'",
        examples=["definition.endpoints[0].name"],
    )
    message: str


class ErrorBody(_Body):
    """Every error answer has this shape."""

    error: str = Field(description="the HTTP status in snake_case", examples=["not_found"])
    message: str
    detail: list[FieldProblem] = Field(
        [], description="for a 422: each problem with the field it is about"
    )
