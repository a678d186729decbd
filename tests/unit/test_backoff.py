"""What every task run shares (``tasks.running``): the backoff, with its jitter, its cap and
the server's Retry-After, and handing a run-again decision to Celery."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from jobs import StepPayload
from tasks.running import BACKOFF_BASE, LessonTask, RunAgain, backoff, carry_out

SAMPLES = 300


@pytest.fixture(autouse=True)
def seeded() -> Iterator[None]:
    """The jitter is random; the same draws on every run."""
    state = random.getstate()
    random.seed(20260101)
    yield
    random.setstate(state)


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 5])
def test_the_delay_doubles_with_each_attempt_with_equal_jitter(attempt: int) -> None:
    delay = BACKOFF_BASE * 2**attempt

    draws = [backoff(attempt, cap=60) for _ in range(SAMPLES)]

    assert all(delay / 2 <= d <= delay for d in draws)
    # The jitter spreads retries over the whole upper half.
    assert min(draws) < delay * 0.55 and max(draws) > delay * 0.95


def test_the_delay_is_capped() -> None:
    draws = [backoff(40, cap=30) for _ in range(SAMPLES)]

    assert all(15 <= d <= 30 for d in draws)
    assert max(draws) > 29


def test_never_sooner_than_the_server_asked() -> None:
    assert [backoff(0, cap=30, retry_after=12.5) for _ in range(10)] == [12.5] * 10
    # Beyond the cap too: the server knows best.
    assert backoff(10, cap=1, retry_after=45) == 45


@pytest.mark.parametrize("retry_after", [None, 0, 0.01])
def test_a_small_or_missing_retry_after_leaves_the_backoff_alone(
    retry_after: float | None,
) -> None:
    draws = [backoff(3, cap=30, retry_after=retry_after) for _ in range(SAMPLES)]

    assert all(1 <= d <= 2 for d in draws)


def test_lesson_tasks_are_acknowledged_only_once_done_and_retry_forever() -> None:
    assert LessonTask.acks_late is True
    assert LessonTask.reject_on_worker_lost is True
    assert LessonTask.ignore_result is True
    assert LessonTask.max_retries is None


class Retried(Exception):
    pass


class CeleryTask:
    """What `carry_out` needs of a Celery task: `retry`, which returns what is to be raised."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def retry(self, **options: Any) -> Retried:
        self.asked.append(options)
        return Retried()


def test_carry_out_sends_the_task_again_with_its_new_payload() -> None:
    task = CeleryTask()
    payload = StepPayload(
        lesson_id="0123456789abcdef", lesson="l", session_id="s", namespace="ns", attempt=2
    )

    with pytest.raises(Retried):
        carry_out(task, RunAgain(1.5, payload))

    assert task.asked == [{"countdown": 1.5, "kwargs": payload.kwargs()}]


def test_carry_out_does_nothing_when_the_run_is_over() -> None:
    task = CeleryTask()

    carry_out(task, None)

    assert task.asked == []
