"""Garbage collection by beat: idle lessons, stuck lessons and orphan namespaces."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client as k8s

from jobs import sending_app
from lessons.naming import INSTANCE, LESSON_ID, MANAGED
from lessons.state import LessonState
from scheduler.client import LessonClient
from tasks.gc import collect
from tasks.runtime import Runtime
from tests.support.kube import ClusterView
from tests.support.stack import running_stack


def wait_for_state(
    client: LessonClient,
    lesson_id: str,
    state: LessonState,
    every: Callable[[], object] | None = None,
    timeout: float = 30,
) -> None:
    """Poll until the lesson is in `state`, calling `every` between polls."""
    deadline = time.monotonic() + timeout
    while client.status(lesson_id).state is not state:
        if every is not None:
            every()
        assert time.monotonic() < deadline, client.status(lesson_id)
        time.sleep(0.3)


def test_idle_lesson_is_torn_down_and_keepalive_resets_the_clock(
    tmp_path: Path, session_id: str
) -> None:
    with running_stack(tmp_path, settings={"lesson_ttl": 3}) as stack:
        stack.start_beat()
        client = stack.client()
        idle = client.create("linux-basics", f"{session_id}-idle")
        kept = client.create("linux-basics", f"{session_id}-kept")

        def keep_both() -> None:
            # Both are kept alive until READY, however slow a loaded machine provisions them.
            for record in (idle, kept):
                client.keepalive(record.id)

        wait_for_state(client, idle.id, LessonState.READY, every=keep_both)
        wait_for_state(client, kept.id, LessonState.READY, every=keep_both)
        wait_for_state(client, idle.id, LessonState.GONE, every=lambda: client.keepalive(kept.id))
        assert client.status(kept.id).state is LessonState.READY
        assert ClusterView(stack.sim.url).namespace(idle.namespace) is None
        # Without keepalives the other one goes too.
        wait_for_state(client, kept.id, LessonState.GONE)


def test_lesson_stuck_past_its_deadline_is_failed_and_torn_down(
    tmp_path: Path, session_id: str
) -> None:
    with running_stack(tmp_path, settings={"provision_timeout": 1}, workers=0) as stack:
        client = stack.client()
        record = client.create("linux-basics", session_id)
        settings = stack.settings
        # GC's tick just after the deadline (no worker ever ran a step).
        result = collect(Runtime.build(settings, sending_app(settings)), record.deadline + 0.1)
        assert result.overdue == [record.id]
        assert client.status(record.id).state is LessonState.TEARING_DOWN
        stack.start_worker()
        gone = client.wait(record.id, timeout=30)
        assert gone.state is LessonState.GONE
        assert gone.error is not None and "deadline" in gone.error
        assert ClusterView(stack.sim.url).namespaces(f"{LESSON_ID}={record.id}") == []


def _namespace(view: ClusterView, name: str, labels: dict[str, str]) -> None:
    view.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels)))


def test_orphan_namespaces_of_this_instance_go_and_others_stay(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        view = ClusterView(stack.sim.url)
        ours = {MANAGED: "true", INSTANCE: "test"}
        _namespace(view, "orphan-ours", {**ours, LESSON_ID: "0123456789abcdef"})
        _namespace(view, "orphan-no-id", ours)
        _namespace(view, "not-lessonq", {"team": "platform"})
        _namespace(
            view,
            "other-instance",
            {MANAGED: "true", INSTANCE: "staging", LESSON_ID: "fedcba9876543210"},
        )
        client = stack.client()
        live = client.create("linux-basics", "gc-live-session")
        assert client.wait(live.id, timeout=60).state is LessonState.READY
        stack.start_beat()
        deadline = time.monotonic() + 30
        while view.namespace("orphan-ours") or view.namespace("orphan-no-id"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        for name in ("not-lessonq", "other-instance", live.namespace):
            found = view.namespace(name)
            assert found is not None and found["metadata"].get("deletionTimestamp") is None, name
