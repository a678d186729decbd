"""Admission over HTTP: the per-session and global limits answer 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Intake, running_intake
from tests.api.helpers import LESSONS, assert_error, create
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def limited(idle_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    with running_intake(
        idle_stack,
        Path(tmp_path_factory.mktemp("limits")),
        "limits",
        instance_id="limits",
        max_live_lessons=3,
        max_lessons_per_session=2,
        admission_retry_after=7.5,
    ) as intake:
        yield intake


def refused(api: httpx.Client, lesson: str, session_id: str) -> str:
    response = api.post(LESSONS, json={"lesson": lesson, "session_id": session_id})
    body = assert_error(response, 429, "too_many_lessons")
    # Whole seconds, rounded up: never sooner than the setting.
    assert response.headers["retry-after"] == "8"
    return str(body["message"])


def test_session_and_global_limits_are_429_until_a_lesson_goes(limited: Intake) -> None:
    with limited.client() as api:
        first = create(api, "alice", lesson="linux-basics")
        create(api, "alice", lesson="snapshot-testing")
        assert "session alice" in refused(api, "bgp-spine-leaf", "alice")
        # A lesson already live is no new lesson: asked for again, it is still answered.
        assert create(api, "alice", lesson="linux-basics")["id"] == first["id"]

        create(api, "bob", lesson="linux-basics")
        assert "3 lessons are live" in refused(api, "linux-basics", "carol")

        assert api.delete(f"{LESSONS}/{first['id']}").status_code == 202
        create(api, "carol", lesson="linux-basics")
        assert "3 lessons are live" in refused(api, "linux-basics", "dave")
