"""The API's lesson bodies, from records: what a FAILED lesson's pods said is in them."""

from __future__ import annotations

import time

from lessons.state import Diagnostics, LessonRecord, LessonState, PodDiagnostics
from scheduler.api_models import LessonSummary


def test_a_failed_lessons_diagnostics_are_in_its_body_and_none_otherwise() -> None:
    now = time.time()
    fields = {
        "id": "0123456789abcdef",
        "lesson": "l",
        "session_id": "s",
        "namespace": "ns",
        "created_at": now,
        "updated_at": now,
        "expires_at": now,
        "deadline": now,
    }
    pod = PodDiagnostics(pod="linux1", waiting="ImagePullBackOff", events=["Warning Failed: x"])
    failed = LessonRecord(**fields, state=LessonState.FAILED, diagnostics=Diagnostics(pods=[pod]))
    body = LessonSummary.of(failed).model_dump(mode="json")
    assert body["diagnostics"] == {
        "pods": [
            {
                "pod": "linux1",
                "phase": None,
                "waiting": "ImagePullBackOff",
                "events": ["Warning Failed: x"],
                "log": None,
            }
        ],
        "note": None,
    }
    ready = LessonRecord(**fields, state=LessonState.READY)
    assert LessonSummary.of(ready).model_dump(mode="json")["diagnostics"] is None


def test_a_lesson_claimed_from_a_warm_pool_says_so_and_an_unclaimed_one_never_expires() -> None:
    now = time.time()
    fields = {
        "id": "0123456789abcdef",
        "lesson": "l",
        "namespace": "l-pool-abcdefghij",
        "state": LessonState.READY,
        "created_at": now,
        "updated_at": now,
        "deadline": now,
        "pooled": True,
    }
    waiting = LessonSummary.of(LessonRecord(**fields)).model_dump(mode="json")
    assert (waiting["session_id"], waiting["from_pool"], waiting["claimed_at"]) == (
        None,
        True,
        None,
    )
    assert waiting["expires_at"] is None and "pooled" not in waiting
    claimed = LessonRecord(**fields, session_id="s", claimed_at=now, expires_at=now + 60)
    body = LessonSummary.of(claimed).model_dump(mode="json")
    assert (body["session_id"], body["from_pool"]) == ("s", True)
    assert body["claimed_at"] is not None and body["expires_at"] is not None
    assert LessonSummary.of(claimed.model_copy(update={"pooled": False})).from_pool is False
