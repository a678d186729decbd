"""What `lessonq` prints: times in UTC, like the API, whatever the machine's time zone; a
READY lesson's endpoints, presentations and guide."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from config.settings import load_settings
from lessons.curriculum import load_curriculum
from lessons.naming import GUIDE_NAME
from lessons.plan import LessonPlan, build_plan
from lessons.state import Diagnostics, LessonRecord, LessonState, PodDiagnostics
from scheduler.cli_show import status_lines, when
from tests.support.settings import TEST_SETTINGS


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_printed_in_utc_like_the_api(far_from_utc: None) -> None:
    assert time.localtime(0).tm_hour == 9  # the machine's zone is not UTC
    assert when(1_795_802_769.443) == "2026-11-27T18:06:09Z"
    assert when(None) == "-"
    # The API's form of the same instant names the same second.
    api = "2026-11-27T18:06:09.443000Z"
    assert datetime.fromisoformat(when(1_795_802_769)) == datetime.fromisoformat(api).replace(
        microsecond=0
    )


def _ready(plan: LessonPlan) -> LessonRecord:
    return LessonRecord(
        id=plan.lesson_id,
        lesson=plan.slug,
        session_id=plan.session_id,
        namespace=plan.namespace,
        state=LessonState.READY,
        healthy=len(plan.endpoints),
        total=len(plan.endpoints),
        created_at=1_795_802_769,
        updated_at=1_795_802_779,
        ready_at=1_795_802_779,
        expires_at=1_795_804_569,
        deadline=1_795_803_369,
    )


def _plan(**settings: str) -> LessonPlan:
    curriculum = load_curriculum(Path(TEST_SETTINGS["curriculum"]))
    return build_plan(
        curriculum.lesson("bgp-spine-leaf"),
        curriculum.images,
        lesson_id="0123456789abcdef",
        session_id="s1",
        settings=load_settings(**settings),
        files=curriculum.files["bgp-spine-leaf"],
    )


def test_status_shows_presentations_with_their_logins_and_the_guide() -> None:
    plan = _plan()
    ns = plan.namespace
    lines = status_lines(_ready(plan), plan)

    server1 = lines.index(f"service     server1.{ns}: cli 22, web 8080")
    assert lines[server1 + 1 : server1 + 3] == [
        # The command line is the operator's: the logins are shown.
        f"  ssh       cli: server1.{ns}.svc:22, user antidote, password antidotepassword",
        # No presentation domain: no Ingress, the page's Service inside the cluster.
        f"  http      web: server1.{ns}.svc:8080",
    ]
    assert lines[-1] == f"guide       jupyter: {GUIDE_NAME}.{ns}.svc:8888"
    assert status_lines(_ready(plan), None)[-1].startswith("expires ")


def test_status_shows_the_web_pages_urls_with_a_presentation_domain() -> None:
    plan = _plan(presentation_domain="labs.example.com", presentation_tls_secret="labs-tls")
    lines = status_lines(_ready(plan), plan)
    [web] = plan.endpoint("server1").presentations[1:]
    assert web.ingress is not None and plan.guide is not None and plan.guide.ingress is not None
    assert f"  http      web: https://{web.ingress.host}/" in lines
    assert lines[-1] == f"guide       jupyter: https://{plan.guide.ingress.host}/"


def test_status_shows_what_a_failed_lessons_pods_said() -> None:
    diagnostics = Diagnostics(
        pods=[
            PodDiagnostics(
                pod="vqfx1",
                phase="Running",
                waiting="CrashLoopBackOff",
                events=["Warning BackOff: back-off restarting failed container"],
                log="kernel panic\nrebooting",
            )
        ],
        note="2 more pods left out",
    )
    now = time.time()
    record = LessonRecord(
        id="0123456789abcdef",
        lesson="l",
        session_id="s",
        namespace="ns",
        state=LessonState.FAILED,
        created_at=now,
        updated_at=now,
        expires_at=now,
        deadline=now,
        error="readiness: 0/1 endpoints ready",
        diagnostics=diagnostics,
    )
    lines = status_lines(record, None)
    at = lines.index("pod         vqfx1: Running, CrashLoopBackOff")
    assert lines[at + 1 :] == [
        "  event     Warning BackOff: back-off restarting failed container",
        "  log       kernel panic",
        "  log       rebooting",
        "diagnosis   2 more pods left out",
    ]
