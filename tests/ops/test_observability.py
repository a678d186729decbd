"""A worker's JSON log lines and Prometheus metrics, after real lessons on a real stack."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings
from scheduler.client import LessonClient
from scheduler.state import LessonState
from scheduler.steps import Step
from tests.support.stack import Stack
from workers.local import free_port, start_cli


def samples(stack: Stack) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    url = f"http://127.0.0.1:{stack.values['metrics_port']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def json_lines(stack: Stack) -> Iterator[dict[str, object]]:
    for line in stack.processes[0].log.read_text().splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def test_metrics_and_json_logs_of_steps_retries_and_failures(
    ops_stack: Stack, session_id: str
) -> None:
    client = ops_stack.client()
    # Every namespace create answered 503 until the deadline: retries, then a failure.
    ops_stack.sim.set_faults([{"verb": "create", "resource": "namespaces", "error_503": 1.0}])
    try:
        hurried = LessonClient(load_settings(**{**ops_stack.values, "provision_timeout": 3}))
        failed = hurried.wait(hurried.create("linux-basics", f"{session_id}-f").id, timeout=30)
    finally:
        ops_stack.sim.set_faults([])
    assert failed.state is LessonState.FAILED and "deadline" in (failed.error or "")
    ready = client.wait(client.create("linux-basics", session_id).id, timeout=60)
    assert ready.state is LessonState.READY, ready.error

    found = samples(ops_stack)
    for step in Step:
        count = value(found, "lessonq_provision_step_duration_seconds_count",
                      step=step.value, outcome="done")
        assert count >= 1, step
    assert value(found, "lessonq_step_retries_total", step="namespace", reason="5xx") >= 1
    assert value(found, "lessonq_lesson_failures_total", step="namespace", reason="deadline") >= 1

    for record in (ready, failed):
        client.teardown(record.id)
        assert client.wait(record.id, timeout=30).state is LessonState.GONE
    found = samples(ops_stack)
    assert value(found, "lessonq_teardown_duration_seconds_count", outcome="done") >= 2

    mine = [line for line in json_lines(ops_stack) if line.get("lesson_id") == ready.id]
    steps = {line["step"]: line for line in mine if line.get("outcome") == "done"}
    assert set(steps) == {step.value for step in Step} | {"teardown"}
    for line in steps.values():
        assert line["session_id"] == session_id and line["namespace"] == ready.namespace
        assert line["lesson"] == "linux-basics" and isinstance(line["duration_s"], float)
        assert line["level"] == "INFO" and line["logger"] == "lessonq.provision"
    retried = [line for line in json_lines(ops_stack)
               if line.get("lesson_id") == failed.id and line.get("reason") == "5xx"]
    assert retried and str(retried[0]["outcome"]).startswith("retrying in")


def test_the_intake_logs_json_lines(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "intake.log"
    intake = start_cli(["intake", "--host", "127.0.0.1", "--port", str(port)],
                       {**stack.env, "LESSONQ_LOG_JSON": "true"}, log, port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10):
            pass
    finally:
        intake.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert lines and all(line["level"] and line["logger"] for line in lines)
    assert any(line["logger"] == "uvicorn.access" and "GET /healthz" in line["message"]
               for line in lines), lines
