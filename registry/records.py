"""The live-lesson registry: one Redis hash per lesson, and the indexes that find them.

Every transition is atomic, so concurrent workers, the client and GC never interleave
half-applied changes, and indexes move with the record: the hot ones (registering a lesson,
starting and finishing a step, starting teardowns, claiming stalled lessons) are Lua scripts
(``registry/lua``), the rest WATCH/MULTI transactions on the lesson's hash. Callers ask questions
(which lessons are due, how many are in each state); the key names stay in ``registry.keys``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar, cast

import redis
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from config.clock import SYSTEM_CLOCK, Clock
from config.settings import Settings
from lessons.files import LessonFiles
from lessons.plan import LessonPlan
from lessons.state import (
    LIVE,
    PROVISIONING_STATES,
    REUSABLE,
    Diagnostics,
    LessonRecord,
    LessonState,
    StepRecord,
    StepStatus,
)
from lessons.steps import FIRST_STEPS, PIPELINE, Step
from registry.connection import connect
from registry.keys import POOL_READY, POOL_STATS, Keys
from registry.pools import Pools
from registry.scripts import Script

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
    "teardown_deadline",
    "teardown_error",
    "stage",
    "configured",
    "configurable",
    "config_generation",
    "diagnostics",
    "pooled",
    "claimed_at",
    "pool_version",
    "avoided_nodes",
    "vnis",
)
# The pipeline as the step scripts read it: each step and what it needs, in order.
_PIPELINE_JSON = json.dumps(
    [[step.value, [need.value for need in spec.needs]] for step, spec in PIPELINE.items()]
)
# Most ids one question about an index answers at once: GC takes the rest at its next tick.
BATCH = 1000
# Lesson folders kept by content, in each process that built a ConfigMap from one: a version
# never changes, and a handful of lessons are asked for at any time.
_FILES_CACHED = 32

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


class NotStarted(StrEnum):
    """Why a step does not run."""

    NOT_PROVISIONING = "lesson no longer provisioning"
    WAITING = "a step it needs is not done"


class StageConflict(Exception):
    """A stage change asked of a lesson that is neither READY nor configuring that stage."""

    def __init__(self, lesson_id: str, state: str) -> None:
        super().__init__(f"lesson {lesson_id} is {state}: only a READY lesson changes stage")
        self.state = state


class VnisExhausted(Exception):
    """No free VNIs left in LESSONQ_VNI_RANGE for a lesson's overlay links."""


class AdmissionRefused(Exception):
    """Too many live lessons, overall or for one session; try again after `retry_after` s."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Registered(NamedTuple):
    """What `LessonRegistry.create` did: the live record (new, the session's existing one, or
    a pool lesson claimed now), and the FAILED lesson it replaced, if any."""

    record: LessonRecord
    replaced: LessonRecord | None
    claimed: bool = False


class LessonRegistry:
    def __init__(self, client: redis.Redis, settings: Settings, clock: Clock = SYSTEM_CLOCK):
        self._redis = client
        self._settings = settings
        self._clock = clock
        self.keys = Keys.of(settings.instance_id)
        self._create = Script(client, "create")
        self._start_step = Script(client, "start_step")
        self._complete_step = Script(client, "complete_step")
        self._begin_teardown = Script(client, "begin_teardown")
        self._claim_stalled = Script(client, "claim_stalled")
        self._begin_stage = Script(client, "begin_stage")
        self._allocate_vnis = Script(client, "allocate_vnis")
        self._files: dict[str, LessonFiles] = {}
        self.pools = Pools(client, settings, self.keys)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> LessonRegistry:
        return cls(connect(settings.redis_url), settings, clock)

    def ping(self) -> bool:
        return bool(self._redis.ping())

    # Reads.

    def get(self, lesson_id: str) -> LessonRecord | None:
        fields = _texts(self._redis.hgetall(self.keys.record(lesson_id)))
        return _decode(fields) if fields else None

    def require(self, lesson_id: str) -> LessonRecord:
        record = self.get(lesson_id)
        if record is None:
            raise LessonNotFound(lesson_id)
        return record

    def plan(self, lesson_id: str) -> LessonPlan:
        raw = self._redis.hget(self.keys.record(lesson_id), "plan")
        if raw is None:
            raise LessonNotFound(lesson_id)
        return LessonPlan.model_validate_json(raw)

    def states(self, lesson_ids: Iterable[str]) -> dict[str, LessonState | None]:
        """Each id's state (None for no record), in one round trip."""
        ids = list(lesson_ids)
        pipe = self._redis.pipeline(transaction=False)
        for lesson_id in ids:
            pipe.hget(self.keys.record(lesson_id), "state")
        return {
            lesson_id: LessonState(state) if state else None
            for lesson_id, state in zip(ids, pipe.execute(), strict=True)
        }

    def state(self, lesson_id: str) -> LessonState | None:
        return self.states([lesson_id])[lesson_id]

    def live_ids(self) -> list[str]:
        return [str(i) for i in self._redis.zrange(self.keys.expiry, 0, -1)]

    def records(self, session_id: str | None = None) -> list[LessonRecord]:
        if session_id is None:
            ids = self.live_ids()
        else:
            ids = sorted(str(i) for i in self._redis.smembers(self.keys.session(session_id)))
        records = [record for record in self.many(ids).values() if record is not None]
        return sorted(records, key=lambda record: record.created_at)

    def many(self, lesson_ids: Iterable[str]) -> dict[str, LessonRecord | None]:
        """Each id's record (None for no record), in one round trip."""
        ids = list(lesson_ids)
        pipe = self._redis.pipeline(transaction=False)
        for lesson_id in ids:
            pipe.hgetall(self.keys.record(lesson_id))
        return {
            lesson_id: _decode(_texts(fields)) if fields else None
            for lesson_id, fields in zip(ids, pipe.execute(), strict=True)
        }

    def count_by_state(self) -> Counter[LessonState]:
        """How many lessons are in each state, GONE ones aside.

        Read from the indexes, not from a scan of every key: the expiry index holds the live
        lessons (QUEUED to READY, and FAILED), the heartbeat index those a task is moving
        (QUEUED, PROVISIONING, TEARING_DOWN). Then one pipelined read of each one's state: two
        round trips and as many small reads as there are lessons not yet gone, which admission
        bounds.
        """
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrange(self.keys.expiry, 0, -1)
        pipe.zrange(self.keys.heartbeat, 0, -1)
        live, moving = pipe.execute()
        states = self.states({*live, *moving}).values()
        return Counter(state for state in states if state is not None)

    def expired(self, now: float, limit: int = BATCH) -> list[str]:
        """Live lessons idle past their TTL at `now`."""
        return self._due(self.keys.expiry, now, limit)

    def overdue(self, now: float, limit: int = BATCH) -> list[str]:
        """Provisioning lessons past their deadline at `now`."""
        return self._due(self.keys.deadline, now, limit)

    def claim_stalled(self, quiet_since: float, limit: int = BATCH) -> list[str]:
        """Lessons whose last progress was at or before `quiet_since`, claimed for resuming:
        their heartbeat moves to now, so a second claim at the same time gets none of them."""
        claimed = self._claim_stalled(
            keys={"heartbeat": self.keys.heartbeat},
            args={"quiet_since": quiet_since, "now": self._clock.now(), "limit": limit},
        )
        return [str(lesson_id) for lesson_id in claimed]

    def _due(self, index: str, now: float, limit: int) -> list[str]:
        return [str(i) for i in self._redis.zrangebyscore(index, "-inf", now, start=0, num=limit)]

    # Transitions.

    def files(self, version: str) -> LessonFiles:
        """The files of that version; LookupError when Redis no longer has them."""
        found = self._files.get(version)
        if found is None:
            raw = self._redis.get(self.keys.files(version))
            if raw is None:
                raise LookupError(f"the lesson files of version {version} are gone from Redis")
            found = LessonFiles.model_validate_json(raw)
            if len(self._files) >= _FILES_CACHED:
                self._files.pop(next(iter(self._files)))
            self._files[version] = found
        return found

    def _new_record(self, plan: LessonPlan, stage: int, now: float) -> dict[str, str]:
        """A new lesson's record, as create.lua writes it."""
        fields: dict[str, str] = {
            "id": plan.lesson_id,
            "lesson": plan.slug,
            "namespace": plan.namespace,
            "state": LessonState.QUEUED.value,
            "healthy": "0",
            "total": str(len(plan.endpoints)),
            "created_at": repr(now),
            "updated_at": repr(now),
            "deadline": repr(now + self._settings.provision_timeout),
            "stage": str(stage),
            "configurable": str(len(plan.configured())),
            "plan": plan.model_dump_json(),
        }
        fields.update({f"step:{step.value}": StepStatus.QUEUED.value for step in FIRST_STEPS})
        return fields

    def _register(
        self,
        plan: LessonPlan,
        stage: int,
        files: LessonFiles | None,
        extra: Mapping[str, str],
        **given: EncodableT,
    ) -> tuple[str, str, dict[str, str]]:
        """Run create.lua for a new lesson's record (its fields and `extra` ones), with the
        arguments `given` (a session's lesson: its expiry, claim; a pool lesson: its pool's
        size); store the lesson's files when it says they are missing. Returns its outcome, its
        value and the fields."""
        if (files is None) != (plan.files_version is None) or (
            files is not None and files.version != plan.files_version
        ):
            raise ValueError(f"the plan's files are version {plan.files_version}, not these")
        now = self._clock.now()
        fields = {**self._new_record(plan, stage, now), **extra}
        session_id = plan.session_id or ""
        files_ttl = int(self._settings.lesson_ttl + self._settings.provision_timeout)
        keys = {
            # (A pool lesson has no session: its script never reads these two.)
            "idempotency": self.keys.idempotency(plan.slug, session_id),
            "session": self.keys.session(session_id),
            "expiry": self.keys.expiry,
            "deadline": self.keys.deadline,
            "heartbeat": self.keys.heartbeat,
            "record": self.keys.record(plan.lesson_id),
            "pool_sizes": self.keys.pool_sizes,
            "pool": self.keys.pool(plan.slug),
            "pool_ready": self.keys.pool_ready(plan.slug),
            "pool_stats": self.keys.pool_stats(plan.slug),
        }
        args: dict[str, EncodableT] = {
            "id": plan.lesson_id,
            "record_prefix": self.keys.record(""),
            "reusable": ",".join(REUSABLE),
            "failed": LessonState.FAILED.value,
            "max_live": self._settings.max_live_lessons,
            "max_session": self._settings.max_lessons_per_session,
            "expires_at": fields.get("expires_at", ""),
            "deadline_at": fields["deadline"],
            "now": now,
            "fields": json.dumps(fields),
            "files_key": self.keys.files(plan.files_version) if plan.files_version else "",
            "files_ttl": files_ttl,
            "slug": plan.slug,
            "session_id": session_id,
            "pool_default": self._settings.warm_pool.get(plan.slug, 0),
            "pool_version": "",
            "ready": LessonState.READY.value,
            "pool_lesson": "",
            **given,
        }
        while True:
            outcome, value = (_text(v) or "" for v in self._create(keys=keys, args=args))
            if outcome != "files-missing":
                return outcome, value, fields
            assert files is not None
            self._redis.set(self.keys.files(files.version), files.model_dump_json(), ex=files_ttl)

    def create(
        self,
        plan: LessonPlan,
        stage: int = 0,
        files: LessonFiles | None = None,
        pool_version: str | None = None,
    ) -> Registered:
        """Register a lesson, or return the live one for the same lesson and session, or (with
        the `pool_version` the lesson's pool lessons must have) claim a READY one of the slug's
        warm pool for the plan's session.

        The lesson's folder's `files` (those of the plan's version) are kept in Redis for the
        workers, under their version: sent once, and kept longer each time a lesson asks.

        Returns the live record, whether it was claimed from a pool now, and, when a FAILED
        lesson for the same lesson and session was replaced, that lesson's record (now
        TEARING_DOWN; the caller starts its teardown). Raises AdmissionRefused past the global
        or per-session limit of live lessons.
        """
        if plan.session_id is None:
            raise ValueError("a session's lesson needs a session: pool lessons are create_pooled")
        expires_at = repr(self._clock.now() + self._settings.lesson_ttl)
        extra = {"session_id": plan.session_id, "expires_at": expires_at}
        replaced: LessonRecord | None = None
        while True:
            outcome, value, fields = self._register(
                plan, stage, files, extra, pool_version=pool_version or ""
            )
            if outcome == "created":
                return Registered(_decode(fields), replaced)
            if outcome in ("existing", "claimed"):
                return Registered(self.require(value), replaced, claimed=outcome == "claimed")
            if outcome == "failed":
                # Tear the failed one down, then ask again: the name is free.
                if self.begin_teardown([value]):
                    replaced = self.require(value)
                continue
            raise self._refusal(outcome, value, plan.session_id)

    def create_pooled(
        self, plan: LessonPlan, size: int, version: str, files: LessonFiles | None = None
    ) -> LessonRecord | None:
        """Register a warm-pool lesson (a plan without a session) unless its pool already holds
        `size` lessons (None then). `version` is what a create must ask for to claim it
        (``lessons.pool.pool_version``). Raises AdmissionRefused past the global limit."""
        if plan.session_id is not None:
            raise ValueError(f"a pool lesson has no session, not {plan.session_id!r}")
        extra = {"pooled": "1", "pool_version": version}
        outcome, value, fields = self._register(plan, 0, files, extra, pool_lesson=size)
        if outcome == "created":
            return _decode(fields)
        if outcome == "pool-full":
            return None
        raise self._refusal(outcome, value, None)

    def _refusal(self, outcome: str, count: str, session_id: str | None) -> AdmissionRefused:
        """A create script's 'full' or 'session-full', with the count it gave."""
        message = f"{count} lessons are live, the limit is {self._settings.max_live_lessons}"
        if outcome == "session-full":
            limit = self._settings.max_lessons_per_session
            message = f"session {session_id} has {count} live lessons, the limit is {limit}"
        return AdmissionRefused(message, self._settings.admission_retry_after)

    def adopt_plan(self, plan: LessonPlan) -> bool:
        """Store a claimed pool lesson's plan with its session (``LessonPlan.claimed_by``);
        False unless the record is that session's."""
        record_key = self.keys.record(plan.lesson_id)

        def apply(pipe: Pipeline) -> bool:
            if plan.session_id is None or pipe.hget(record_key, "session_id") != plan.session_id:
                return False
            pipe.multi()
            pipe.hset(record_key, "plan", plan.model_dump_json())
            return True

        return self._transact(apply, record_key)

    def start_step(
        self, lesson_id: str, step: Step
    ) -> tuple[LessonRecord, LessonPlan] | NotStarted:
        """Mark a step running and return the record and plan; or why the step does not run:
        the lesson is no longer provisioning, or a step it needs is not done (a message that
        came out of order; the step is sent when they are)."""
        reply = self._start_step(
            keys={"record": self.keys.record(lesson_id), "heartbeat": self.keys.heartbeat},
            args={
                "step": step.value,
                "now": self._clock.now(),
                "id": lesson_id,
                "provisioning_states": ",".join(PROVISIONING_STATES),
                "provisioning": LessonState.PROVISIONING.value,
                "running": StepStatus.RUNNING.value,
                "queued": LessonState.QUEUED.value,
                "needs": json.dumps([need.value for need in step.needs]),
                "done": StepStatus.DONE.value,
            },
        )
        if reply == 0:
            return NotStarted.WAITING
        if not reply:
            return NotStarted.NOT_PROVISIONING
        fields = {str(reply[i]): str(reply[i + 1]) for i in range(0, len(reply), 2)}
        return _decode(fields), LessonPlan.model_validate_json(fields["plan"])

    def complete_step(self, lesson_id: str, step: Step) -> list[Step]:
        """Mark a step done; return the steps it unblocks (now marked queued).

        When every step is done the lesson becomes READY in the same script.
        """
        following = self._complete_step(
            keys={
                "record": self.keys.record(lesson_id),
                "deadline": self.keys.deadline,
                "heartbeat": self.keys.heartbeat,
            },
            args={
                "step": step.value,
                "now": self._clock.now(),
                "id": lesson_id,
                "provisioning": LessonState.PROVISIONING.value,
                "done": StepStatus.DONE.value,
                "queued": StepStatus.QUEUED.value,
                "ready": LessonState.READY.value,
                "pipeline": _PIPELINE_JSON,
                "configuring": LessonState.CONFIGURING.value,
                "pool_prefix": self.keys.pool(""),
                "ready_suffix": POOL_READY,
                "stats_suffix": POOL_STATS,
            },
        )
        return [Step(str(name)) for name in following]

    def report_progress(
        self,
        lesson_id: str,
        *,
        healthy: int | None = None,
        namespace_uid: str | None = None,
        configured: int | None = None,
        next_run_in: float = 0,
    ) -> None:
        """Record what a running step observed and that the lesson is still moving: its task
        runs again within `next_run_in` seconds (a backoff, a Retry-After, a poll), so GC's
        stall timeout counts from then."""
        now = self._clock.now()
        fields: Fields = {"updated_at": now}
        if healthy is not None:
            fields["healthy"] = healthy
        if namespace_uid is not None:
            fields["namespace_uid"] = namespace_uid
        if configured is not None:
            fields["configured"] = configured
        record_key = self.keys.record(lesson_id)

        def apply(pipe: Pipeline) -> None:
            state = pipe.hget(record_key, "state")
            if state not in PROVISIONING_STATES | {LessonState.TEARING_DOWN}:
                return
            pipe.multi()
            pipe.hset(record_key, mapping=fields)
            pipe.zadd(self.keys.heartbeat, {lesson_id: now + next_run_in}, xx=True)

        self._transact(apply, record_key)

    def begin_stage(self, lesson_id: str, stage: int) -> bool:
        """READY -> CONFIGURING at `stage` (the caller sends the configure step); False when the
        lesson is configuring that stage already. StageConflict in any other state."""
        now = self._clock.now()
        outcome, *detail = self._begin_stage(
            keys={
                "record": self.keys.record(lesson_id),
                "deadline": self.keys.deadline,
                "heartbeat": self.keys.heartbeat,
            },
            args={
                "id": lesson_id,
                "stage": stage,
                "now": now,
                "deadline_at": now + self._settings.provision_timeout,
                "ready": LessonState.READY.value,
                "configuring": LessonState.CONFIGURING.value,
                "step": Step.CONFIGURE.value,
                "queued": StepStatus.QUEUED.value,
            },
        )
        if outcome == "missing":
            raise LessonNotFound(lesson_id)
        if outcome == "conflict":
            raise StageConflict(lesson_id, str(detail[0]))
        return bool(outcome == "changed")

    def allocate_vnis(self, lesson_id: str, count: int) -> list[int] | None:
        """`count` VNIs for a provisioning lesson's overlay links, unique among the instance's
        live lessons (the same ones when it has them already); None when the lesson is no
        longer provisioning. VnisExhausted when the range has too few free."""
        first, last = self._settings.vnis
        outcome, value = self._allocate_vnis(
            keys={
                "record": self.keys.record(lesson_id),
                "used": self.keys.vnis_used,
                "quarantine": self.keys.vni_quarantine,
                "cursor": self.keys.vni_next,
            },
            args={
                "id": lesson_id,
                "count": count,
                "first": first,
                "last": last,
                "now": self._clock.now(),
                "provisioning_states": ",".join(PROVISIONING_STATES),
            },
        )
        if outcome == "gone":
            return None
        if outcome == "exhausted":
            raise VnisExhausted(
                f"{count} VNIs wanted, {value} free in LESSONQ_VNI_RANGE {self._settings.vni_range}"
            )
        return [int(vni) for vni in json.loads(value)]

    def avoid_node(self, lesson_id: str, node: str) -> list[str] | None:
        """Add `node` to the nodes a provisioning lesson's pods avoid; the nodes avoided now,
        None when the lesson is no longer provisioning."""
        record_key = self.keys.record(lesson_id)

        def apply(pipe: Pipeline) -> list[str] | None:
            state, avoided = pipe.hmget(record_key, ["state", "avoided_nodes"])
            if state not in PROVISIONING_STATES:
                return None
            nodes = [*json.loads(avoided or "[]"), node]
            pipe.multi()
            pipe.hset(record_key, "avoided_nodes", json.dumps(nodes))
            return nodes

        return self._transact(apply, record_key)

    def fail(self, lesson_id: str, error: str, diagnostics: Diagnostics | None = None) -> bool:
        """QUEUED/PROVISIONING -> FAILED with the reason (and what its pods said); False if it
        was not provisioning."""
        record_key = self.keys.record(lesson_id)
        fields: Fields = {
            "state": LessonState.FAILED.value,
            "error": error,
            "updated_at": self._clock.now(),
        }
        if diagnostics is not None:
            fields["diagnostics"] = diagnostics.model_dump_json()

        def apply(pipe: Pipeline) -> bool:
            if pipe.hget(record_key, "state") not in PROVISIONING_STATES:
                return False
            pipe.multi()
            pipe.hset(record_key, mapping=fields)
            pipe.zrem(self.keys.deadline, lesson_id)
            pipe.zrem(self.keys.heartbeat, lesson_id)
            return True

        return self._transact(apply, record_key)

    def begin_teardown(self, lesson_ids: Iterable[str], unclaimed_only: bool = False) -> list[str]:
        """Move lessons to TEARING_DOWN; return those that changed (the caller dispatches).

        A provisioning task notices at its next step and stops. The lesson stops counting as
        live at once, so the same lesson and session can be asked for again straight away. Its
        teardown is due within LESSONQ_TEARDOWN_TIMEOUT from now. With `unclaimed_only`, only
        pool lessons no session has claimed move (what a pool's refill retires).
        """
        ids = list(dict.fromkeys(lesson_ids))
        if not ids:
            return []
        now = self._clock.now()
        changed = self._begin_teardown(
            keys={
                "expiry": self.keys.expiry,
                "deadline": self.keys.deadline,
                "heartbeat": self.keys.heartbeat,
            },
            args={
                "now": now,
                "teardown_deadline": now + self._settings.teardown_timeout,
                "record_prefix": self.keys.record(""),
                "session_prefix": self.keys.session(""),
                "live": ",".join(LIVE),
                "tearing_down": LessonState.TEARING_DOWN.value,
                "ids": json.dumps(ids),
                "pool_prefix": self.keys.pool(""),
                "ready_suffix": POOL_READY,
                "unclaimed_only": "1" if unclaimed_only else "0",
            },
        )
        return [str(lesson_id) for lesson_id in changed]

    def teardown_overdue(self, lesson_id: str, error: str) -> bool:
        """Say on a TEARING_DOWN lesson's record why its teardown is overdue; False if it is
        not tearing down. Its heartbeat is left alone: GC resumes the teardown once it stalls."""
        record_key = self.keys.record(lesson_id)

        def apply(pipe: Pipeline) -> bool:
            if pipe.hget(record_key, "state") != LessonState.TEARING_DOWN:
                return False
            pipe.multi()
            pipe.hset(
                record_key, mapping={"teardown_error": error, "updated_at": self._clock.now()}
            )
            return True

        return self._transact(apply, record_key)

    def finish_teardown(self, lesson_id: str) -> bool:
        """TEARING_DOWN -> GONE; the record is kept for a while so callers can read the end."""
        record_key = self.keys.record(lesson_id)

        def apply(pipe: Pipeline) -> bool:
            fields = pipe.hmget(record_key, ["state", "lesson", "session_id", "vnis"])
            state, slug, session_id, vnis = fields
            if state != LessonState.TEARING_DOWN:
                return False
            # A pool lesson never claimed holds no session's key.
            key = self.keys.idempotency(str(slug), str(session_id)) if session_id else None
            owner = pipe.get(key) if key else None
            # Its VNIs go into quarantine (those still its own: never another lesson's).
            held = [str(vni) for vni in json.loads(vnis or "[]")]
            owners = pipe.hmget(self.keys.vnis_used, held) if held else []
            released = [vni for vni, by in zip(held, owners, strict=True) if by == lesson_id]
            pipe.multi()
            if released:
                pipe.hdel(self.keys.vnis_used, *released)
                free_at = self._clock.now() + self._settings.vni_quarantine
                pipe.zadd(self.keys.vni_quarantine, {vni: free_at for vni in released})
            pipe.hset(
                record_key,
                mapping={"state": LessonState.GONE.value, "updated_at": self._clock.now()},
            )
            pipe.expire(record_key, int(self._settings.record_retention))
            if key and owner == lesson_id:
                pipe.delete(key)
            pipe.zrem(self.keys.heartbeat, lesson_id)
            return True

        return self._transact(apply, record_key, self.keys.vnis_used)

    def keepalive(self, lesson_id: str) -> LessonRecord:
        """Reset a live lesson's idle clock."""
        record_key = self.keys.record(lesson_id)

        def apply(pipe: Pipeline) -> None:
            state, session_id = pipe.hmget(record_key, ["state", "session_id"])
            if state is None:
                raise LessonNotFound(lesson_id)
            # A pool lesson never claimed is never idle: it keeps no clock to reset.
            if state not in LIVE or session_id is None:
                return
            expires_at = self._clock.now() + self._settings.lesson_ttl
            pipe.multi()
            pipe.hset(record_key, "expires_at", expires_at)
            pipe.zadd(self.keys.expiry, {lesson_id: expires_at})

        self._transact(apply, record_key)
        return self.require(lesson_id)

    def _transact(self, apply: Callable[[Pipeline], T], *keys: str) -> T:
        run = cast(Callable[[Pipeline], None], apply)
        return cast(T, self._redis.transaction(run, *keys, value_from_callable=True))


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
    scalars: dict[str, Any] = {name: fields[name] for name in _SCALARS if name in fields}
    for name in ("diagnostics", "avoided_nodes", "vnis"):
        if name in scalars:
            scalars[name] = json.loads(scalars[name])
    return LessonRecord.model_validate({**scalars, "steps": steps})
