"""Reading pod status (``lessons.readiness``): which endpoints are ready, which never will be,
and what the others wait for."""

from __future__ import annotations

from typing import Any

import pytest

from lessons.readiness import FATAL_WAITING_REASONS, assess, fatal_problem, is_ready, waiting_reason

Pod = dict[str, Any]


def pod(name: str, status: Pod | None = None, **metadata: Any) -> Pod:
    found: Pod = {"metadata": {"name": name, **metadata}}
    if status is not None:
        found["status"] = status
    return found


def waiting(reason: str | None = None, message: str | None = None) -> Pod:
    state: Pod = {}
    if reason is not None:
        state["reason"] = reason
    if message is not None:
        state["message"] = message
    return {"phase": "Pending", "containerStatuses": [{"name": "c", "state": {"waiting": state}}]}


READY: Pod = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}


@pytest.mark.parametrize(
    ("status", "ready"),
    [
        (READY, True),
        ({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}, False),
        (
            {"phase": "Running", "conditions": [{"type": "ContainersReady", "status": "True"}]},
            False,
        ),
        ({"phase": "Running", "conditions": None}, False),
        ({"phase": "Running"}, False),
        (None, False),
    ],
)
def test_a_pod_is_ready_when_its_ready_condition_is_true(status: Pod | None, ready: bool) -> None:
    assert is_ready(pod("r1", status)) is ready


def test_a_pod_going_away_is_not_ready() -> None:
    assert not is_ready(pod("r1", READY, deletionTimestamp="2026-01-01T00:00:00Z"))


@pytest.mark.parametrize("reason", sorted(FATAL_WAITING_REASONS))
def test_a_container_state_that_never_heals_is_fatal(reason: str) -> None:
    problem = fatal_problem(pod("r1", waiting(reason, "it broke")))

    assert problem == f"pod r1: {reason}: it broke"


def test_a_fatal_state_without_a_message_says_so() -> None:
    assert fatal_problem(pod("r1", waiting("CrashLoopBackOff"))) == (
        "pod r1: CrashLoopBackOff: no message"
    )


def test_a_failed_pod_is_fatal_with_its_reason_and_message() -> None:
    assert fatal_problem(pod("r1", {"phase": "Failed", "reason": "Evicted", "message": "oom"})) == (
        "pod r1 failed: Evicted: oom"
    )
    assert fatal_problem(pod("r1", {"phase": "Failed"})) == "pod r1 failed: Failed: no message"


@pytest.mark.parametrize(
    "status",
    [
        waiting("ContainerCreating"),
        waiting("ErrImagePull"),  # the first pull failing: kubelet tries again
        {"phase": "Running", "containerStatuses": [{"name": "c", "state": {"running": {}}}]},
        {"phase": "Running", "containerStatuses": [{"name": "c", "state": None}]},
        {"phase": "Pending", "containerStatuses": None},
        {"phase": "Succeeded"},
        {},
    ],
)
def test_states_that_may_still_come_right_are_not_fatal(status: Pod) -> None:
    assert fatal_problem(pod("r1", status)) is None


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (
            {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "no node",
                    }
                ],
            },
            "Unschedulable: no node",
        ),
        (
            {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
                ],
            },
            "Unschedulable: not scheduled",
        ),
        (
            {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True"}],
                **waiting("ContainerCreating"),
            },
            "ContainerCreating",
        ),
        (waiting(message="back-off 10s"), "Waiting"),
        (
            {"phase": "Running", "containerStatuses": [{"name": "c", "state": {"running": {}}}]},
            "Running",
        ),
        (
            {"phase": "Pending", "containerStatuses": [{"name": "c", "state": {"waiting": {}}}]},
            "Pending",
        ),
        ({}, "Pending"),
        (
            {
                "phase": "Running",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "ReadinessGatesNotReady",
                        "message": 'corresponding condition of pod readiness gate "lessonq.io/'
                        'links-wired" does not exist.',
                    }
                ],
            },
            'ReadinessGatesNotReady: corresponding condition of pod readiness gate "lessonq.io/'
            'links-wired" does not exist.',
        ),
    ],
)
def test_what_a_pod_waits_for_is_said_as_kubectl_would(status: Pod, why: str) -> None:
    assert waiting_reason(pod("r1", status)) == why


def test_assess_counts_only_pods_named_after_the_endpoints() -> None:
    pods = [
        pod("r1", READY),
        pod("r2", waiting("ContainerCreating")),
        pod("stray", READY),
    ]

    seen = assess(pods, ["r1", "r2", "r3"])

    assert seen.ready == frozenset({"r1"})
    assert (seen.healthy, seen.total, seen.complete) == (1, 3, False)
    assert seen.problem is None
    assert seen.waiting == ("r2 (ContainerCreating)", "r3 (no pod)")


def test_assess_reports_the_first_fatal_problem_in_endpoint_order() -> None:
    pods = [pod("r2", waiting("ImagePullBackOff", "b")), pod("r1", waiting("CrashLoopBackOff"))]

    seen = assess(pods, ["r1", "r2"])

    assert seen.problem == "pod r1: CrashLoopBackOff: no message"
    assert seen.healthy == 0


def test_every_endpoint_ready_is_complete() -> None:
    seen = assess([pod("r1", READY), pod("r2", READY)], ["r1", "r2"])

    assert seen.complete and seen.waiting == () and seen.problem is None


def test_a_lesson_with_no_endpoints_is_complete_at_once() -> None:
    assert assess([], []).complete
