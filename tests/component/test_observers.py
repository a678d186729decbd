"""The observers of every step run (``tasks.observers``): one log line with the run's fields,
and the Prometheus metrics, which both read the same `StepEvent`."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from config.logs import EXTRA_KEY
from jobs import StepPayload
from tasks.observers import LogLine, StepMetrics
from tasks.outcomes import TEARDOWN_STEP, Outcome, StepEvent

PAYLOAD = StepPayload(
    lesson_id="0123456789abcdef", lesson="linux-basics", session_id="s-1", namespace="ns-1"
)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- LogLine --------------------------------------------------------------------------------


def test_a_run_is_logged_once_at_info_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    event = StepEvent(PAYLOAD, "pods", Outcome.DONE, 0.1234, next=("readiness",))

    with caplog.at_level(logging.DEBUG, logger="lessonq.provision"):
        LogLine().step_ended(event)

    [line] = caplog.records
    assert line.name == "lessonq.provision"
    assert line.levelno == logging.INFO
    assert line.getMessage() == (
        "lesson 0123456789abcdef (linux-basics, session s-1, namespace ns-1) step pods: "
        "done in 0.123s"
    )
    assert getattr(line, EXTRA_KEY) == event.fields()
    assert getattr(line, EXTRA_KEY)["next"] == ["readiness"]


def test_an_overdue_teardown_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    event = StepEvent(
        PAYLOAD, TEARDOWN_STEP, Outcome.OVERDUE, 0.002, error="the namespace is still terminating"
    )

    with caplog.at_level(logging.DEBUG, logger="lessonq.provision"):
        LogLine().step_ended(event)

    [line] = caplog.records
    assert line.levelno == logging.WARNING
    assert line.getMessage().endswith("step teardown: overdue in 0.002s")
    assert getattr(line, EXTRA_KEY)["error"] == "the namespace is still terminating"


@pytest.mark.parametrize(
    "outcome", [o for o in Outcome if o is not Outcome.OVERDUE], ids=lambda o: o.value
)
def test_every_other_outcome_is_logged_at_info(
    outcome: Outcome, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="lessonq.provision"):
        LogLine().step_ended(StepEvent(PAYLOAD, "namespace", outcome, 0.0, retry_in=1.0))

    assert [line.levelno for line in caplog.records] == [logging.INFO]


# --- StepMetrics ----------------------------------------------------------------------------

PROVISION = "lessonq_provision_step_duration_seconds"
TEARDOWN = "lessonq_teardown_duration_seconds"


def test_a_provisioning_run_is_timed_by_step_and_outcome() -> None:
    StepMetrics().step_ended(StepEvent(PAYLOAD, "services", Outcome.DONE, 0.0))  # metrics exist
    teardowns = sample(f"{TEARDOWN}_count", outcome="done")
    before_count = sample(f"{PROVISION}_count", step="services", outcome="done")
    before_sum = sample(f"{PROVISION}_sum", step="services", outcome="done")
    before_fast = sample(f"{PROVISION}_bucket", step="services", outcome="done", le="0.05")

    StepMetrics().step_ended(StepEvent(PAYLOAD, "services", Outcome.DONE, 0.04))

    assert sample(f"{PROVISION}_count", step="services", outcome="done") == before_count + 1
    assert sample(f"{PROVISION}_sum", step="services", outcome="done") == pytest.approx(
        before_sum + 0.04
    )
    assert sample(f"{PROVISION}_bucket", step="services", outcome="done", le="0.05") == (
        before_fast + 1
    )
    assert sample(f"{TEARDOWN}_count", outcome="done") == teardowns


def test_a_teardown_run_is_timed_by_outcome_only() -> None:
    before = sample(f"{TEARDOWN}_count", outcome="done")
    before_step = sample(f"{PROVISION}_count", step=TEARDOWN_STEP, outcome="done")

    StepMetrics().step_ended(StepEvent(PAYLOAD, TEARDOWN_STEP, Outcome.DONE, 1.5))

    assert sample(f"{TEARDOWN}_count", outcome="done") == before + 1
    assert sample(f"{PROVISION}_count", step=TEARDOWN_STEP, outcome="done") == before_step


@pytest.mark.parametrize(("reason", "label"), [("5xx", "5xx"), ("429", "429"), (None, "other")])
def test_a_retry_is_counted_by_step_and_reason(reason: str | None, label: str) -> None:
    name = "lessonq_step_retries_total"
    before = sample(name, step="pods", reason=label)
    failures = sample("lessonq_lesson_failures_total", step="pods", reason=label)

    StepMetrics().step_ended(
        StepEvent(PAYLOAD, "pods", Outcome.RETRY, 0.01, reason=reason, retry_in=0.3)
    )

    assert sample(name, step="pods", reason=label) == before + 1
    assert sample("lessonq_lesson_failures_total", step="pods", reason=label) == failures


@pytest.mark.parametrize(("reason", "label"), [("Forbidden", "Forbidden"), (None, "other")])
def test_a_failure_is_counted_by_step_and_reason(reason: str | None, label: str) -> None:
    name = "lessonq_lesson_failures_total"
    before = sample(name, step="networks", reason=label)
    retries = sample("lessonq_step_retries_total", step="networks", reason=label)

    StepMetrics().step_ended(StepEvent(PAYLOAD, "networks", Outcome.FAILED, 0.01, reason=reason))

    assert sample(name, step="networks", reason=label) == before + 1
    assert sample("lessonq_step_retries_total", step="networks", reason=label) == retries


def test_an_overdue_teardown_is_counted() -> None:
    name = "lessonq_teardowns_overdue_total"
    before = sample(name)
    timed = sample(f"{TEARDOWN}_count", outcome="overdue")

    StepMetrics().step_ended(StepEvent(PAYLOAD, TEARDOWN_STEP, Outcome.OVERDUE, 0.01))

    assert sample(name) == before + 1
    assert sample(f"{TEARDOWN}_count", outcome="overdue") == timed + 1


@pytest.mark.parametrize("outcome", [Outcome.DONE, Outcome.SKIPPED, Outcome.STOPPED])
def test_other_outcomes_count_no_retry_failure_or_overdue(outcome: Outcome) -> None:
    counters = [
        ("lessonq_step_retries_total", {"step": "pods", "reason": "other"}),
        ("lessonq_lesson_failures_total", {"step": "pods", "reason": "other"}),
        ("lessonq_teardowns_overdue_total", {}),
    ]
    before = [sample(name, **labels) for name, labels in counters]
    timed = sample(f"{PROVISION}_count", step="pods", outcome=outcome.value)

    StepMetrics().step_ended(StepEvent(PAYLOAD, "pods", outcome, 0.01))

    assert [sample(name, **labels) for name, labels in counters] == before
    assert sample(f"{PROVISION}_count", step="pods", outcome=outcome.value) == timed + 1
