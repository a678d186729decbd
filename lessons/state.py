"""What a live lesson's record holds: its state, its steps and their times.

These models are the boundary between Redis (where records live as hashes of strings) and the
rest of lessonq; the registry reads and writes them, the client and the API return them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, computed_field

from lessons.steps import Step


class LessonState(StrEnum):
    QUEUED = "QUEUED"
    PROVISIONING = "PROVISIONING"
    READY = "READY"
    # A READY lesson moving to another stage (or applying its stage again).
    CONFIGURING = "CONFIGURING"
    FAILED = "FAILED"
    TEARING_DOWN = "TEARING_DOWN"
    GONE = "GONE"


# States that hold, or are about to hold, a namespace; the same lesson and session asked for
# again returns the live lesson while it is in one of the first four.
REUSABLE = frozenset(
    {LessonState.QUEUED, LessonState.PROVISIONING, LessonState.READY, LessonState.CONFIGURING}
)
LIVE = REUSABLE | {LessonState.FAILED}
# States in which a lesson's devices can be reached: its status says how.
REACHABLE = frozenset({LessonState.READY, LessonState.CONFIGURING})
# States a caller waits through; the others are where `wait` returns.
SETTLED = frozenset({LessonState.READY, LessonState.FAILED, LessonState.GONE})
# States in which steps run, against a deadline.
PROVISIONING_STATES = frozenset(
    {LessonState.QUEUED, LessonState.PROVISIONING, LessonState.CONFIGURING}
)


class StepStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


class StepRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: StepStatus
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class PodDiagnostics(BaseModel):
    """What a pod that was not ready said about itself when its lesson failed."""

    model_config = ConfigDict(frozen=True)

    pod: str
    phase: str | None = None
    # Why it waits, as `kubectl describe` hints (ImagePullBackOff, Unschedulable: ...).
    waiting: str | None = None
    # Its last Events, oldest first: "Warning FailedScheduling: 0/3 nodes are available ...".
    events: list[str] = []
    # The last lines its container printed, when it started at all.
    log: str | None = None


class Diagnostics(BaseModel):
    """Kept with a FAILED lesson's record, bounded in size: it outlives the namespace."""

    model_config = ConfigDict(frozen=True)

    pods: list[PodDiagnostics] = []
    # What could not be collected, and why.
    note: str | None = None


class LessonRecord(BaseModel):
    """One live lesson. Times are Unix timestamps (seconds)."""

    model_config = ConfigDict(frozen=True)

    id: str
    lesson: str
    # None: a warm-pool lesson no session has claimed yet.
    session_id: str | None = None
    namespace: str
    state: LessonState
    steps: dict[Step, StepRecord] = {}
    healthy: int = 0
    total: int = 0
    error: str | None = None
    created_at: float
    updated_at: float
    ready_at: float | None = None
    # None: never (a pool lesson waiting to be claimed is never idle).
    expires_at: float | None = None
    deadline: float
    namespace_uid: str | None = None
    # The stage the devices are configured for (or being configured for, while CONFIGURING),
    # how many configured endpoints are done with it and how many there are, and how many
    # times the stage was changed (each change configures afresh).
    stage: int = 0
    configured: int = 0
    configurable: int = 0
    config_generation: int = 0
    # A FAILED lesson's pods that were not ready, as they were at the failure.
    diagnostics: Diagnostics | None = None
    # Set when teardown begins: past it, a teardown that has not finished is reported.
    teardown_deadline: float | None = None
    # Why the teardown is overdue, while it is (GC tries again).
    teardown_error: str | None = None
    # Its overlay links' VNIs, by link (LESSONQ_LINKS=overlay).
    vnis: list[int] = []
    # Nodes the lesson was placed on before and found too small for all of its pods, in
    # order: its pods avoid them (``lessons.placement``).
    avoided_nodes: list[str] = []
    # Provisioned for a warm pool (before any session asked), and when a session claimed it.
    pooled: bool = False
    claimed_at: float | None = None
    # The version of the lesson a pool lesson was made of (``lessons.pool.pool_version``).
    pool_version: str | None = None

    @property
    def waiting_in_pool(self) -> bool:
        """A pool lesson no session has claimed yet."""
        return self.pooled and self.session_id is None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def current_step(self) -> str | None:
        """The steps running now (or waiting to run), in pipeline order."""
        for status in (StepStatus.RUNNING, StepStatus.QUEUED):
            names = [step.value for step, rec in self.steps.items() if rec.status is status]
            if names:
                return ",".join(names)
        return None

    def step_done(self, step: Step) -> bool:
        record = self.steps.get(step)
        return record is not None and record.status is StepStatus.DONE
