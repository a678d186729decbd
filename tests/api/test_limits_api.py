"""Admission over HTTP: the per-session and global limits answer 429 with Retry-After."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Intake, running_intake
from tests.api.helpers import LESSONS, assert_error, create
from tests.support.stack import Stack

_instances = itertools.count()


@pytest.fixture
def limited(idle_stack: Stack, tmp_path: Path) -> Iterator[Intake]:
    """An intake with small limits, and an instance of its own: its lessons are its alone."""
    with running_intake(
        idle_stack,
        tmp_path,
        "limits",
        instance_id=f"limits-{next(_instances)}",
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


def test_concurrent_requests_are_admitted_exactly_up_to_the_limit(limited: Intake) -> None:
    with limited.client() as api, ThreadPoolExecutor(10) as pool:
        same = list(pool.map(lambda _: create(api, "erin", lesson="linux-basics"), range(10)))
        assert len({lesson["id"] for lesson in same}) == 1

        def ask(index: int) -> int:
            body = {"lesson": "linux-basics", "session_id": f"burst-{index}"}
            return api.post(LESSONS, json=body).status_code

        statuses = sorted(pool.map(ask, range(10)))
    # One lesson was live already: two more fit under the global limit of three.
    assert statuses == [202] * 2 + [429] * 8
