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
