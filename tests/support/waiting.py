"""Waiting for what another process does: the local processes' own poll, with a test's pace."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from devstack.local import wait_for
from scheduler.client import LessonClient

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30, what: str = "the check") -> T:
    """The first truthy result of `check`, polled until `timeout` (then TimeoutError)."""
    return wait_for(check, timeout, f"{what} passing", every=0.3)


def wait_for_step(client: LessonClient, lesson_id: str, step: str, timeout: float = 30) -> None:
    """Until `step` is among the lesson's current steps (looked at every 10 ms: the caller
    wants to act while it runs)."""
    wait_for(
        lambda: step in (client.status(lesson_id).current_step or ""),
        timeout,
        f"step {step} of lesson {lesson_id} running",
        every=0.01,
    )
