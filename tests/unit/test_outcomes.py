"""How a run ended (``tasks.outcomes``): the small fixed label of each error, and the event's
fields and summary that the log line and the metrics read."""

from __future__ import annotations

import pytest

from jobs import StepPayload
from kube import KubeError, PermanentError, TransientError
from tasks.outcomes import TEARDOWN_STEP, Outcome, Reason, StepEvent, reason

PAYLOAD = StepPayload(
    lesson_id="0123456789abcdef", lesson="linux-basics", session_id="s-1", namespace="ns-1"
)


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (TransientError("x", status=500, reason="InternalError"), "5xx"),
        (TransientError("x", status=503), "5xx"),
        (TransientError("x", status=599), "5xx"),
        (TransientError("x", status=429, reason="TooManyRequests"), "429"),
        (TransientError("x", status=408), "408"),
        (TransientError("x", status=410, reason="Expired"), "410"),
        (TransientError("x"), "no-status"),
        (TransientError("x", status=0), "no-status"),
        (TransientError("x", reason="deadline"), "deadline"),
        (PermanentError("x", status=403, reason="Forbidden"), "Forbidden"),
        (PermanentError("x", status=422, reason="Invalid"), "Invalid"),
        (PermanentError("x", status=409, reason="AlreadyExists"), "AlreadyExists"),
        (PermanentError("x", status=418, reason="I'm a teapot"), "other"),
        (PermanentError("x", status=400), "other"),
        (PermanentError("x", reason="Forbidden"), "Forbidden"),
        (PermanentError("x"), "refused"),
        (PermanentError("x", reason=Reason.DEADLINE), "deadline"),
    ],
)
def test_every_error_gets_a_small_fixed_label(error: KubeError, label: str) -> None:
    assert reason(error) == label


def test_the_fields_of_a_done_step_name_the_lesson_and_the_steps_it_started() -> None:
    event = StepEvent(PAYLOAD, "namespace", Outcome.DONE, 0.12345, next=("networks", "pods"))

    assert event.fields() == {
        "lesson_id": "0123456789abcdef",
        "lesson": "linux-basics",
        "session_id": "s-1",
        "namespace": "ns-1",
        "step": "namespace",
        "outcome": "done",
        "duration_s": 0.123,
        "next": ["networks", "pods"],
    }


def test_a_done_step_that_started_nothing_says_so() -> None:
    assert StepEvent(PAYLOAD, "services", Outcome.DONE, 0).fields()["next"] == []


def test_a_teardown_and_other_outcomes_have_no_next() -> None:
    assert "next" not in StepEvent(PAYLOAD, TEARDOWN_STEP, Outcome.DONE, 0).fields()
    assert "next" not in StepEvent(PAYLOAD, "pods", Outcome.FAILED, 0).fields()


def test_the_fields_of_a_retry_carry_the_error_its_reason_and_the_pause() -> None:
    event = StepEvent(
        PAYLOAD, "pods", Outcome.RETRY, 0.5, error="busy", reason="5xx", retry_in=0.41666
    )

    fields = event.fields()

    assert {k: fields[k] for k in ("outcome", "error", "reason", "retry_in_s")} == {
        "outcome": "retry",
        "error": "busy",
        "reason": "5xx",
        "retry_in_s": 0.417,
    }
    assert "why" not in fields and "next" not in fields


def test_a_retry_in_zero_seconds_is_still_a_field() -> None:
    assert StepEvent(PAYLOAD, "pods", Outcome.RETRY, 0, retry_in=0.0).fields()["retry_in_s"] == 0


def test_the_fields_of_a_skipped_step_say_why() -> None:
    fields = StepEvent(PAYLOAD, "pods", Outcome.SKIPPED, 0, why="no longer provisioning").fields()

    assert fields["why"] == "no longer provisioning"
    assert not {"error", "reason", "retry_in_s", "next"} & set(fields)


@pytest.mark.parametrize(
    ("event", "summary"),
    [
        (StepEvent(PAYLOAD, "pods", Outcome.RETRY, 0, retry_in=0.4242), "retrying in 0.42s"),
        (StepEvent(PAYLOAD, "pods", Outcome.RETRY, 0), "retrying in 0.00s"),
        (StepEvent(PAYLOAD, "pods", Outcome.SKIPPED, 0, why="gone"), "skipped: gone"),
        (StepEvent(PAYLOAD, "pods", Outcome.STOPPED, 0, why="torn down"), "stopped: torn down"),
        (StepEvent(PAYLOAD, "pods", Outcome.DONE, 0), "done"),
        (StepEvent(PAYLOAD, "pods", Outcome.FAILED, 0, error="boom", reason="x"), "failed"),
        (StepEvent(PAYLOAD, TEARDOWN_STEP, Outcome.OVERDUE, 0), "overdue"),
    ],
)
def test_the_summary_says_what_happened_in_words(event: StepEvent, summary: str) -> None:
    assert event.summary() == summary
