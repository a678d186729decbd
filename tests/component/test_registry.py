"""The live-lesson registry against a real Redis: transitions, indexes, races, restarts."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config.settings import load_settings
from devstack.local import RedisServer
from lessons.state import LessonRecord, LessonState, StepStatus
from lessons.steps import Step
from registry import AdmissionRefused, LessonRegistry, NotStarted, connect
from scheduler.client import LessonClient
from tests.support.redis import redis_client
from tests.support.settings import TEST_SETTINGS


@pytest.fixture
def registry(redis_url: str) -> LessonRegistry:
    settings = load_settings(
        **{
            **TEST_SETTINGS,
            "redis_url": redis_url,
            "instance_id": "registry-test",
            "lesson_ttl": 100,
        }
    )
    return LessonRegistry(connect(redis_url), settings)


def register(
    registry: LessonRegistry, session_id: str, slug: str = "linux-basics"
) -> tuple[LessonRecord, LessonRecord | None]:
    """Register the lesson and session with its plan and files, as the client does."""
    client = LessonClient(
        load_settings(**{**TEST_SETTINGS, "redis_url": "redis://127.0.0.1:1/0"}), registry=registry
    )
    plan, files = client.prepare(slug, session_id)
    registered = registry.create(plan, files=files)
    return registered.record, registered.replaced


def complete(registry: LessonRegistry, lesson_id: str, step: Step) -> list[Step]:
    assert not isinstance(registry.start_step(lesson_id, step), NotStarted)
    return registry.complete_step(lesson_id, step)


def test_create_is_idempotent_per_lesson_and_session(
    registry: LessonRegistry, session_id: str
) -> None:
    first, replaced = register(registry, session_id)
    again, _ = register(registry, session_id)
    assert replaced is None
    assert again.id == first.id
    assert first.state is LessonState.QUEUED
    assert first.steps[Step.NAMESPACE].status is StepStatus.QUEUED
    assert first.current_step == "namespace"
    assert [r.id for r in registry.records(session_id)] == [first.id]


def test_steps_start_only_what_they_unblock_and_the_last_makes_it_ready(
    registry: LessonRegistry, session_id: str
) -> None:
    record, _ = register(registry, session_id)
    assert complete(registry, record.id, Step.NAMESPACE) == [
        Step.NETWORKS,
        Step.POLICIES,
        Step.SERVICES,
        Step.FILES,
    ]
    assert complete(registry, record.id, Step.NETWORKS) == []
    assert complete(registry, record.id, Step.POLICIES) == []
    assert complete(registry, record.id, Step.FILES) == [Step.PODS]
    assert complete(registry, record.id, Step.PODS) == [Step.READINESS]
    assert complete(registry, record.id, Step.READINESS) == [Step.CONFIGURE]
    assert complete(registry, record.id, Step.CONFIGURE) == []
    assert registry.require(record.id).state is LessonState.PROVISIONING
    assert complete(registry, record.id, Step.SERVICES) == []
    ready = registry.require(record.id)
    assert ready.state is LessonState.READY
    assert ready.ready_at is not None
    assert all(step.seconds is not None for step in ready.steps.values())
    assert record.id not in registry.overdue(time.time() + 10_000)
    assert record.id not in registry.claim_stalled(time.time() + 10_000)


def test_two_steps_finishing_together_start_the_next_once(
    registry: LessonRegistry, session_id: str
) -> None:
    for attempt in range(10):
        record, _ = register(registry, f"{session_id}-{attempt}")
        complete(registry, record.id, Step.NAMESPACE)
        complete(registry, record.id, Step.FILES)
        registry.start_step(record.id, Step.NETWORKS)
        registry.start_step(record.id, Step.POLICIES)
        barrier = threading.Barrier(2)

        def finish(
            step: Step, lesson_id: str = record.id, start: threading.Barrier = barrier
        ) -> list[Step]:
            start.wait()
            return registry.complete_step(lesson_id, step)

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(finish, (Step.NETWORKS, Step.POLICIES)))
        assert sorted(results, key=len) == [[], [Step.PODS]]


def test_teardown_stops_provisioning_and_frees_the_lesson_for_a_new_request(
    registry: LessonRegistry, redis_url: str, session_id: str
) -> None:
    record, _ = register(registry, session_id)
    assert registry.begin_teardown([record.id]) == [record.id]
    assert registry.begin_teardown([record.id]) == []
    assert registry.start_step(record.id, Step.NAMESPACE) is NotStarted.NOT_PROVISIONING
    assert registry.fail(record.id, "late error") is False
    newer, _ = register(registry, session_id)
    assert newer.id != record.id
    assert registry.finish_teardown(record.id)
    gone = registry.require(record.id)
    assert gone.state is LessonState.GONE
    assert redis_client(redis_url).ttl(registry.keys.record(record.id)) > 0
    # Finishing the old teardown must not free the newer lesson's key.
    assert register(registry, session_id)[0].id == newer.id


def test_failed_lesson_is_replaced_and_torn_down_on_a_new_request(
    registry: LessonRegistry, session_id: str
) -> None:
    record, _ = register(registry, session_id)
    assert registry.fail(record.id, "pods: boom")
    failed = registry.require(record.id)
    assert failed.state is LessonState.FAILED and failed.error == "pods: boom"
    newer, replaced = register(registry, session_id)
    assert newer.id != record.id
    assert replaced is not None and replaced.id == record.id
    assert replaced.state is LessonState.TEARING_DOWN


def test_expiry_index_finds_only_idle_lessons_and_keepalive_resets_the_clock(
    registry: LessonRegistry, session_id: str
) -> None:
    record, _ = register(registry, session_id)
    later = record.expires_at + 1
    assert record.id in registry.expired(later)
    assert record.id not in registry.expired(record.created_at)
    time.sleep(0.05)
    kept = registry.keepalive(record.id)
    assert kept.expires_at > record.expires_at
    assert record.id not in registry.expired(record.expires_at + 0.01)


def test_records_survive_a_redis_restart(tmp_path: Path, session_id: str) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        settings = load_settings(**{**TEST_SETTINGS, "redis_url": server.url})
        registry = LessonRegistry(connect(server.url), settings)
        record, _ = register(registry, session_id)
        complete(registry, record.id, Step.NAMESPACE)
        server.restart()
        after = registry.require(record.id)
        assert after.step_done(Step.NAMESPACE)
        assert registry.plan(record.id).lesson_id == record.id
        assert record.id in registry.live_ids()
    finally:
        server.stop()


def test_admission_limits_live_lessons_overall_and_per_session(
    redis_url: str, session_id: str
) -> None:
    settings = load_settings(
        **{
            **TEST_SETTINGS,
            "redis_url": redis_url,
            "instance_id": "admission-test",
            "max_live_lessons": 3,
            "max_lessons_per_session": 2,
        }
    )
    registry = LessonRegistry(connect(redis_url), settings)
    slugs = ["linux-basics", "snapshot-testing", "device-configuration"]
    first, _ = register(registry, session_id, slugs[0])
    register(registry, session_id, slugs[1])
    with pytest.raises(AdmissionRefused, match=r"session .* has 2 live lessons, the limit is 2"):
        register(registry, session_id, slugs[2])
    register(registry, f"{session_id}-b", slugs[0])
    with pytest.raises(AdmissionRefused, match="3 lessons are live, the limit is 3") as refused:
        register(registry, f"{session_id}-c", slugs[0])
    assert refused.value.retry_after == settings.admission_retry_after
    # The same lesson and session is not a new lesson: no refusal.
    assert register(registry, session_id, slugs[0])[0].id == first.id
    # A lesson tearing down no longer counts.
    registry.begin_teardown([first.id])
    register(registry, session_id, slugs[2])


def test_a_lessons_files_are_kept_by_version_sent_once_and_again_when_gone(
    registry: LessonRegistry, redis_url: str, session_id: str
) -> None:
    first, _ = register(registry, session_id, "device-configuration")
    plan = registry.plan(first.id)
    assert plan.files_version is not None
    key = registry.keys.files(plan.files_version)
    redis = redis_client(redis_url)
    assert registry.files(plan.files_version).exists("stage2/configs/frr2.py")
    stored = redis.get(key)
    redis.set(key, "what was sent before", ex=5)

    register(registry, f"{session_id}-b", "device-configuration")  # the same version
    assert redis.ttl(key) > 5 and redis.get(key) == "what was sent before"  # not sent again
    redis.delete(key)
    register(registry, f"{session_id}-c", "device-configuration")
    assert redis.get(key) == stored  # gone from Redis: sent again
    with pytest.raises(ValueError, match="not these"):
        registry.create(plan.model_copy(update={"lesson_id": "f" * 16}))
