"""The live-lesson registry: one Redis hash per lesson, and the indexes that find them.

Keys, all under ``lessonq:<instance>:``:

- ``lesson:<id>``  hash: the record's fields, ``step:<name>`` / ``start:<name>`` / ``end:<name>``
  per step, and ``plan`` (the JSON the provisioning tasks work from);
- ``key:<slug>:<session>``  the id of the live lesson for that lesson and session (idempotency);
- ``session:<session>``  set of that session's live ids (not those tearing down);
- ``expiry``  zset id -> time the lesson expires unless kept alive (GC's idle clock);
- ``deadline``  zset id -> provisioning deadline, only while provisioning;
- ``heartbeat``  zset id -> last progress, only while a task should be making progress (GC
  resumes lessons whose heartbeat went quiet).

Every transition is atomic, so concurrent workers, the client and GC never interleave
half-applied changes, and indexes move with the record: the hot ones (registering a lesson,
starting and finishing a step, starting teardowns) are Lua scripts (`registry_scripts`), the
rest WATCH/MULTI transactions on the lesson's hash.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.typing import EncodableT, FieldT

from config.settings import Settings
from scheduler import registry_scripts as scripts
from scheduler.plan import LessonPlan
from scheduler.state import (
    LIVE,
    PROVISIONING_STATES,
    REUSABLE,
    LessonRecord,
    LessonState,
    StepRecord,
    StepStatus,
)
from scheduler.steps import DEPENDS_ON, FIRST_STEPS, Step

T = TypeVar("T")
# What a record's hash fields are written from.
Fields = dict[FieldT, EncodableT]

_SCALARS = (
    "id",
    "lesson",
    "session_id",
    "namespace",
    "state",
    "healthy",
    "total",
    "error",
    "created_at",
    "updated_at",
    "ready_at",
    "expires_at",
    "deadline",
    "namespace_uid",
)


def connect(url: str, retry_seconds: float | None = None) -> redis.Redis:
    """A Redis client that rides out a restart of the server (25 retries, about 40 s of pauses
    between them), or, with `retry_seconds`, one that retries only while those pauses add up
    to no more than that (each attempt is bounded by the socket timeouts on top)."""
    backoff = ExponentialBackoff(cap=2.0, base=0.05)
    retries = 25
    if retry_seconds is not None:
        retries, paused = 0, backoff.compute(1)
        while paused <= retry_seconds:
            retries += 1
            paused += backoff.compute(retries + 1)
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=2,
        health_check_interval=15,
        retry=Retry(backoff, retries=retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


# What `new_lesson_id` makes, 16 lowercase hex digits: anything else cannot be a lesson's id
# (the intake answers 404 for it without asking Redis).
LESSON_ID_FORMAT = re.compile(r"[0-9a-f]{16}")


def new_lesson_id() -> str:
    return secrets.token_hex(8)


class LessonNotFound(KeyError):
    def __init__(self, lesson_id: str) -> None:
        super().__init__(lesson_id)
        self.lesson_id = lesson_id

    def __str__(self) -> str:
        return f"no lesson with id {self.lesson_id!r}"


class AdmissionRefused(Exception):
    """Too many live lessons, overall or for one session; try again after `retry_after` s."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LessonRegistry:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._create_script = client.register_script(scripts.CREATE)
        self._start_script = client.register_script(scripts.START_STEP)
        self._complete_script = client.register_script(scripts.COMPLETE_STEP)
        self._begin_teardown_script = client.register_script(scripts.BEGIN_TEARDOWN)
        self._settings = settings
        self._prefix = f"lessonq:{settings.instance_id}:"
        self.expiry_key = self._prefix + "expiry"
        self.deadline_key = self._prefix + "deadline"
        self.heartbeat_key = self._prefix + "heartbeat"

    @classmethod
    def from_settings(cls, settings: Settings) -> LessonRegistry:
        return cls(connect(settings.redis_url), settings)

    @property
    def redis(self) -> redis.Redis:
        return self._redis

    # Keys.

    def record_key(self, lesson_id: str) -> str:
        return f"{self._prefix}lesson:{lesson_id}"

    def _idempotency_key(self, slug: str, session_id: str) -> str:
        return f"{self._prefix}key:{slug}:{session_id}"

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    # Reads.

    def get(self, lesson_id: str) -> LessonRecord | None:
        fields = _texts(self._redis.hgetall(self.record_key(lesson_id)))
        return _decode(fields) if fields else None

    def require(self, lesson_id: str) -> LessonRecord:
        record = self.get(lesson_id)
        if record is None:
            raise LessonNotFound(lesson_id)
        return record

    def plan(self, lesson_id: str) -> LessonPlan:
        raw = self._redis.hget(self.record_key(lesson_id), "plan")
        if raw is None:
            raise LessonNotFound(lesson_id)
        return LessonPlan.model_validate_json(raw)

    def states(self, lesson_ids: Iterable[str]) -> dict[str, LessonState | None]:
        """Each id's state (None for no record), in one round trip."""
        ids = list(lesson_ids)
        pipe = self._redis.pipeline(transaction=False)
        for lesson_id in ids:
            pipe.hget(self.record_key(lesson_id), "state")
        return {
            lesson_id: LessonState(state) if state else None
            for lesson_id, state in zip(ids, pipe.execute(), strict=True)
        }

    def live_ids(self) -> list[str]:
        return [str(i) for i in self._redis.zrange(self.expiry_key, 0, -1)]

    def records(self, session_id: str | None = None) -> list[LessonRecord]:
        if session_id is None:
            ids = self.live_ids()
        else:
            ids = sorted(str(i) for i in self._redis.smembers(self._session_key(session_id)))
        pipe = self._redis.pipeline(transaction=False)
        for lesson_id in ids:
            pipe.hgetall(self.record_key(lesson_id))
        records = [_decode(_texts(fields)) for fields in pipe.execute() if fields]
        return sorted(records, key=lambda record: record.created_at)

    def due(self, index: str, now: float, limit: int = 1000) -> list[str]:
        """Ids whose score in an index (expiry, deadline, heartbeat) is at or before `now`."""
        return [str(i) for i in self._redis.zrangebyscore(index, "-inf", now, start=0, num=limit)]

    # Transitions.

    def create(self, plan: LessonPlan) -> tuple[LessonRecord, LessonRecord | None]:
        """Register a lesson, or return the live one for the same lesson and session.

        Returns the live record and, when a FAILED lesson for the same lesson and session was
        replaced, that lesson's record (now TEARING_DOWN; the caller starts its teardown).
        Raises AdmissionRefused past the global or per-session limit of live lessons.
        """
        now = time.time()
        fields: Fields = {
            "id": plan.lesson_id,
            "lesson": plan.slug,
            "session_id": plan.session_id,
            "namespace": plan.namespace,
            "state": LessonState.QUEUED.value,
            "healthy": 0,
            "total": len(plan.endpoints),
            "created_at": now,
            "updated_at": now,
            "expires_at": now + self._settings.lesson_ttl,
            "deadline": now + self._settings.provision_timeout,
            "plan": plan.model_dump_json(),
        }
        fields.update({f"step:{step.value}": StepStatus.QUEUED.value for step in FIRST_STEPS})
        keys = [
            self._idempotency_key(plan.slug, plan.session_id),
            self._session_key(plan.session_id),
            self.expiry_key,
            self.deadline_key,
            self.heartbeat_key,
            self.record_key(plan.lesson_id),
        ]
        args = [
            plan.lesson_id,
            self.record_key(""),
            ",".join(REUSABLE),
            LessonState.FAILED.value,
            self._settings.max_live_lessons,
            self._settings.max_lessons_per_session,
            fields["expires_at"],
            fields["deadline"],
            now,
            *(item for pair in fields.items() for item in pair),
        ]
        replaced: LessonRecord | None = None
        while True:
            outcome, value = (_text(v) or "" for v in self._create_script(keys=keys, args=args))
            if outcome == "created":
                return _decode(_texts(fields)), replaced
            if outcome == "existing":
                return self.require(value), replaced
            if outcome == "failed":
                # Tear the failed one down, then ask again: the name is free.
                if self.begin_teardown([value]):
                    replaced = self.require(value)
                continue
            limit = self._settings.max_live_lessons
            message = f"{value} lessons are live, the limit is {limit}"
            if outcome == "session-full":
                limit = self._settings.max_lessons_per_session
                message = (
                    f"session {plan.session_id} has {value} live lessons, the limit is {limit}"
                )
            raise AdmissionRefused(message, self._settings.admission_retry_after)

    def start_step(self, lesson_id: str, step: Step) -> tuple[LessonRecord, LessonPlan] | None:
        """Mark a step running and return the record and plan; None when the lesson is no
        longer provisioning (the step stops)."""
        now = time.time()
        reply = self._start_script(
            keys=[self.record_key(lesson_id), self.heartbeat_key],
            args=[
                step.value,
                now,
                lesson_id,
                ",".join(PROVISIONING_STATES),
                LessonState.PROVISIONING.value,
                StepStatus.RUNNING.value,
            ],
        )
        if not reply:
            return None
        fields = {str(reply[i]): str(reply[i + 1]) for i in range(0, len(reply), 2)}
        return _decode(fields), LessonPlan.model_validate_json(fields["plan"])

    def complete_step(self, lesson_id: str, step: Step) -> list[Step]:
        """Mark a step done; return the steps it unblocks (now marked queued).

        When every step is done the lesson becomes READY in the same script.
        """
        following = self._complete_script(
            keys=[self.record_key(lesson_id), self.deadline_key, self.heartbeat_key],
            args=[
                step.value,
                time.time(),
                lesson_id,
                LessonState.PROVISIONING.value,
                StepStatus.DONE.value,
                StepStatus.QUEUED.value,
                LessonState.READY.value,
                *(item for s, deps in DEPENDS_ON.items() for item in (s.value, _joined(deps))),
            ],
        )
        return [Step(str(name)) for name in following]

    def report_progress(
        self,
        lesson_id: str,
        *,
        healthy: int | None = None,
        total: int | None = None,
        namespace_uid: str | None = None,
    ) -> None:
        """Record what a running step observed and that the lesson is still moving."""
        now = time.time()
        fields: Fields = {"updated_at": now}
        if healthy is not None:
            fields["healthy"] = healthy
        if total is not None:
            fields["total"] = total
        if namespace_uid is not None:
            fields["namespace_uid"] = namespace_uid
        record_key = self.record_key(lesson_id)

        def apply(pipe: Pipeline) -> None:
            state = pipe.hget(record_key, "state")
            if state not in PROVISIONING_STATES | {LessonState.TEARING_DOWN}:
                return
            pipe.multi()
            pipe.hset(record_key, mapping=fields)
            pipe.zadd(self.heartbeat_key, {lesson_id: now}, xx=True)

        self._transact(apply, record_key)

    def fail(self, lesson_id: str, error: str) -> bool:
        """QUEUED/PROVISIONING -> FAILED with the reason; False if it was not provisioning."""
        record_key = self.record_key(lesson_id)

        def apply(pipe: Pipeline) -> bool:
            if pipe.hget(record_key, "state") not in PROVISIONING_STATES:
                return False
            pipe.multi()
            pipe.hset(
                record_key,
                mapping={
                    "state": LessonState.FAILED.value,
                    "error": error,
                    "updated_at": time.time(),
                },
            )
            pipe.zrem(self.deadline_key, lesson_id)
            pipe.zrem(self.heartbeat_key, lesson_id)
            return True

        return self._transact(apply, record_key)

    def begin_teardown(self, lesson_ids: Iterable[str]) -> list[str]:
        """Move lessons to TEARING_DOWN; return those that changed (the caller dispatches).

        A provisioning task notices at its next step and stops. The lesson stops counting as
        live at once, so the same lesson and session can be asked for again straight away.
        """
        ids = list(dict.fromkeys(lesson_ids))
        if not ids:
            return []
        changed = self._begin_teardown_script(
            keys=[
                self.expiry_key,
                self.deadline_key,
                self.heartbeat_key,
                *(self.record_key(lesson_id) for lesson_id in ids),
            ],
            args=[
                time.time(),
                self._session_key(""),
                ",".join(LIVE),
                LessonState.TEARING_DOWN.value,
                *ids,
            ],
        )
        return [str(lesson_id) for lesson_id in changed]

    def finish_teardown(self, lesson_id: str) -> bool:
        """TEARING_DOWN -> GONE; the record is kept for a while so callers can read the end."""
        record_key = self.record_key(lesson_id)

        def apply(pipe: Pipeline) -> bool:
            fields = pipe.hmget(record_key, ["state", "lesson", "session_id"])
            state, slug, session_id = fields
            if state != LessonState.TEARING_DOWN:
                return False
            key = self._idempotency_key(str(slug), str(session_id))
            owner = pipe.get(key)
            pipe.multi()
            pipe.hset(
                record_key, mapping={"state": LessonState.GONE.value, "updated_at": time.time()}
            )
            pipe.expire(record_key, int(self._settings.record_retention))
            if owner == lesson_id:
                pipe.delete(key)
            pipe.zrem(self.heartbeat_key, lesson_id)
            return True

        return self._transact(apply, record_key)

    def keepalive(self, lesson_id: str) -> LessonRecord:
        """Reset a live lesson's idle clock."""
        record_key = self.record_key(lesson_id)

        def apply(pipe: Pipeline) -> None:
            state = pipe.hget(record_key, "state")
            if state is None:
                raise LessonNotFound(lesson_id)
            if state not in LIVE:
                return
            expires_at = time.time() + self._settings.lesson_ttl
            pipe.multi()
            pipe.hset(record_key, "expires_at", expires_at)
            pipe.zadd(self.expiry_key, {lesson_id: expires_at})

        self._transact(apply, record_key)
        return self.require(lesson_id)

    def touch(self, lesson_ids: Iterable[str]) -> None:
        """Push back the heartbeat of lessons that were just resumed, so they are resumed once."""
        beats = dict.fromkeys(lesson_ids, time.time())
        if beats:
            self._redis.zadd(self.heartbeat_key, beats, xx=True)

    def _transact(self, apply: Callable[[Pipeline], T], *keys: str) -> T:
        run = cast(Callable[[Pipeline], None], apply)
        return cast(T, self._redis.transaction(run, *keys, value_from_callable=True))


def _joined(steps: Iterable[Step]) -> str:
    return ",".join(step.value for step in steps)


def _text(value: object) -> str | None:
    """A reply of the client (which decodes responses to str), typed as such."""
    return None if value is None else str(value)


def _texts(fields: Mapping[Any, Any]) -> dict[str, str]:
    return {str(name): str(value) for name, value in fields.items()}


def _step_statuses(fields: Mapping[str, str]) -> dict[Step, StepStatus]:
    return {
        step: StepStatus(fields[f"step:{step.value}"])
        for step in Step
        if f"step:{step.value}" in fields
    }


def _float(fields: Mapping[str, str], name: str) -> float | None:
    value = fields.get(name)
    return float(value) if value is not None else None


def _decode(fields: Mapping[str, str]) -> LessonRecord:
    steps = {
        step: StepRecord(
            status=status,
            started_at=_float(fields, f"start:{step.value}"),
            finished_at=_float(fields, f"end:{step.value}"),
        )
        for step, status in _step_statuses(fields).items()
    }
    scalars = {name: fields[name] for name in _SCALARS if name in fields}
    return LessonRecord.model_validate({**scalars, "steps": steps})
