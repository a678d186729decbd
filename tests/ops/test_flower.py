"""`lessonq flower` against the test broker: the worker and each step's task, behind basic auth."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import httpx

from devstack.local import free_port, start_cli
from lessons.state import LessonState
from lessons.steps import Step
from tests.support.stack import Stack
from tests.support.waiting import eventually

PASSWORD = "flower-test-password"


def test_flower_shows_the_worker_and_each_step_task(
    stack: Stack, session_id: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {**stack.env, "LESSONQ_FLOWER_PASSWORD": PASSWORD}
    flower = start_cli(
        ["flower", "--address", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "flower.log",
        port,
    )
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}/api", timeout=10)
        assert api.get("/workers").status_code == 401
        assert api.get("/workers", auth=("admin", "wrong")).status_code == 401
        auth = ("admin", PASSWORD)
        workers = eventually(lambda: api.get("/workers", params={"refresh": "1"}, auth=auth).json())
        assert any(name.startswith("worker0@") for name in workers), workers

        client = stack.client()
        record = client.wait(client.create("linux-basics", session_id).id, timeout=60)
        assert record.state is LessonState.READY, record.error

        def finished_steps() -> dict[str, dict[str, Any]]:
            tasks = api.get("/tasks", params={"state": "SUCCESS"}, auth=auth).json()
            mine = {
                task["name"]: task
                for task in tasks.values()
                if record.id in (task.get("kwargs") or "")
            }
            return mine if len(mine) == len(Step) else {}

        steps = eventually(finished_steps)
        assert set(steps) == {step.task_name for step in Step}
        for task in steps.values():
            kwargs = ast.literal_eval(task["kwargs"])
            assert kwargs["lesson_id"] == record.id and kwargs["lesson"] == "linux-basics"
            assert kwargs["session_id"] == session_id
            assert kwargs["namespace"] == record.namespace
            assert task["worker"].startswith("worker0@")
        client.teardown(record.id)
    finally:
        flower.stop()
