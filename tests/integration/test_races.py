"""Idempotency and races: concurrent creates, and a teardown that overtakes provisioning."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from lessons.naming import LESSON_ID, SESSION, label_value
from lessons.state import LessonState
from tests.support.kube import ClusterView
from tests.support.stack import Stack


def test_ten_concurrent_creates_give_one_lesson_and_one_namespace(
    stack: Stack, session_id: str
) -> None:
    clients = [stack.client() for _ in range(10)]
    with ThreadPoolExecutor(10) as pool:
        records = list(pool.map(lambda c: c.create("linux-basics", session_id), clients))
    assert len({record.id for record in records}) == 1
    lesson_id = records[0].id
    ready = clients[0].wait(lesson_id, timeout=60)
    assert ready.state is LessonState.READY, ready.error
    assert [r.id for r in clients[0].list(session_id)] == [lesson_id]
    view = ClusterView(stack.sim.url)
    assert len(view.namespaces(f"{SESSION}={label_value(session_id)}")) == 1
    clients[0].teardown(lesson_id)
    assert clients[0].wait(lesson_id, timeout=30).state is LessonState.GONE


def test_create_again_after_teardown_gives_a_new_lesson(stack: Stack, session_id: str) -> None:
    client = stack.client()
    first = client.create("linux-basics", session_id)
    client.teardown(first.id)
    second = client.create("linux-basics", session_id)
    assert second.id != first.id
    # Same namespace name: the new lesson waits for the old namespace to go, then reuses it.
    assert second.namespace == first.namespace
    assert client.wait(first.id, timeout=30).state is LessonState.GONE
    ready = client.wait(second.id, timeout=60)
    assert ready.state is LessonState.READY, ready.error
    client.teardown(second.id)
    assert client.wait(second.id, timeout=30).state is LessonState.GONE


def test_teardown_during_provisioning_leaves_nothing(stack: Stack, session_id: str) -> None:
    client = stack.client()
    view = ClusterView(stack.sim.url)
    for step in ("namespace", "networks", "pods", "readiness"):
        record = client.create("snapshot-testing", f"{session_id}-{step}")
        deadline = time.monotonic() + 30
        while True:
            current = client.status(record.id)
            if (current.current_step or "").find(step) >= 0 or current.state is LessonState.READY:
                break
            assert time.monotonic() < deadline, current
            time.sleep(0.005)
        client.teardown(record.id)
        gone = client.wait(record.id, timeout=30)
        assert gone.state is LessonState.GONE
        # Give any step still in flight time to finish; it must not leave anything behind.
        time.sleep(1.5)
        assert view.namespaces(f"{LESSON_ID}={record.id}") == [], step
        assert client.status(record.id).state is LessonState.GONE
