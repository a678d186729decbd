"""A worker's JSON log lines and Prometheus metrics, after real lessons on a real stack."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devstack.local import free_port, start_cli
from kube import Kube
from lessons.state import LessonState
from lessons.steps import Step
from tests.support.stack import Stack
from tests.support.waiting import eventually


def samples(stack: Stack) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    url = f"http://127.0.0.1:{stack.values['metrics_port']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def json_lines(stack: Stack) -> Iterator[dict[str, object]]:
    for line in stack.processes[0].log.read_text().splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def test_metrics_and_json_logs_of_steps_retries_and_failures(
    ops_stack: Stack, session_id: str
) -> None:
    client = ops_stack.client()
    # Namespace creates answered 503 until a retry has been counted; then the lesson goes on.
    ops_stack.sim.set_faults([{"verb": "create", "resource": "namespaces", "error_503": 1.0}])
    try:
        ready = client.create("linux-basics", session_id)
        eventually(
            lambda: value(
                samples(ops_stack), "lessonq_step_retries_total", step="namespace", reason="5xx"
            )
        )
    finally:
        ops_stack.sim.set_faults([])
    ready = client.wait(ready.id, timeout=60)
    assert ready.state is LessonState.READY, ready.error
    # A namespace of that name that lessonq does not manage: the lesson is refused.
    refused = client.plan("linux-basics", f"{session_id}-x")
    kube = Kube.from_settings(ops_stack.settings)
    try:
        kube.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": refused.namespace}}
        )
    finally:
        kube.close()
    failed = client.wait(client.create("linux-basics", f"{session_id}-x").id, timeout=60)
    assert failed.state is LessonState.FAILED and "not managed by lessonq" in (failed.error or "")

    found = samples(ops_stack)
    for step in Step:
        count = value(
            found, "lessonq_provision_step_duration_seconds_count", step=step.value, outcome="done"
        )
        assert count >= 1, step
    assert (
        value(
            found,
            "lessonq_provision_step_duration_seconds_count",
            step="namespace",
            outcome="retry",
        )
        >= 1
    )
    assert value(found, "lessonq_lesson_failures_total", step="namespace", reason="refused") >= 1

    for record in (ready, failed):
        client.teardown(record.id)
        assert client.wait(record.id, timeout=30).state is LessonState.GONE
    found = samples(ops_stack)
    assert value(found, "lessonq_teardown_duration_seconds_count", outcome="done") >= 1

    mine = [line for line in json_lines(ops_stack) if line.get("lesson_id") == ready.id]
    steps = {line["step"]: line for line in mine if line.get("outcome") == "done"}
    assert set(steps) == {step.value for step in Step} | {"teardown"}
    for line in steps.values():
        assert line["session_id"] == session_id and line["namespace"] == ready.namespace
        assert line["lesson"] == "linux-basics" and isinstance(line["duration_s"], float)
        assert line["level"] == "INFO" and line["logger"] == "lessonq.provision"
    retried = [line for line in mine if line.get("reason") == "5xx"]
    assert retried and retried[0]["outcome"] == "retry" and retried[0]["retry_in_s"] > 0
    assert "retrying in" in str(retried[0]["message"])


def test_the_intake_logs_json_lines(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "intake.log"
    intake = start_cli(
        ["intake", "--host", "127.0.0.1", "--port", str(port)],
        {**stack.env, "LESSONQ_LOG_JSON": "true"},
        log,
        port,
    )
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10):
            pass
    finally:
        intake.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert lines and all(line["level"] and line["logger"] for line in lines)
    assert any(
        line["logger"] == "uvicorn.access" and "GET /healthz" in line["message"] for line in lines
    ), lines
