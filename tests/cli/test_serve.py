"""`lessonq worker` and `lessonq beat`, the commands docker-compose.yml and deploy/ run, on a
test stack: the worker builds a lesson, beat has it collect garbage."""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings
from devstack.local import LoggedProcess, free_port, settings_env
from lessons.state import LessonState
from lessons.steps import Step
from scheduler.client import LessonClient
from tests.cli.run import LESSONQ
from tests.support.stack import Stack
from workers.launch import beat_schedule_file


def test_lessonq_worker_builds_lessons_and_lessonq_beat_sends_gc(
    stack: Stack, session_id: str, tmp_path: Path
) -> None:
    # An instance and a queue of their own: the stack's worker never sees these tasks.
    instance = f"serve-{os.getpid()}"
    values = {
        **stack.values,
        "instance_id": instance,
        "queue": f"lessonq-{instance}",
        "metrics_port": free_port(),
        "metrics_host": "127.0.0.1",
    }
    env = settings_env(values)
    schedule = beat_schedule_file(instance)
    processes = []
    try:
        worker = LoggedProcess(
            "lessonq worker",
            [str(LESSONQ), "worker", "--concurrency=2"],
            env,
            tmp_path / "worker.log",
            inherit_settings=False,
        )
        processes.append(worker)
        beat = LoggedProcess(
            "lessonq beat",
            [str(LESSONQ), "beat"],
            env,
            tmp_path / "beat.log",
            inherit_settings=False,
        )
        processes.append(beat)
        worker.wait_for_log(" ready.")

        client = LessonClient(load_settings(**values))
        record = client.wait(client.create("linux-basics", session_id).id, timeout=60)
        assert record.state is LessonState.READY, record.error
        # Its pool processes' samples, added up by the main process (lessonq worker set up
        # prometheus_client's multiprocess directory before Celery started).
        url = f"http://127.0.0.1:{values['metrics_port']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            samples = {
                (sample.name, sample.labels.get("step"), sample.labels.get("outcome")): sample.value
                for family in text_string_to_metric_families(response.read().decode())
                for sample in family.samples
            }
        for step in Step:
            counted = ("lessonq_provision_step_duration_seconds_count", step.value, "done")
            assert samples.get(counted, 0) >= 1, step

        beat.wait_for_log("Sending due task lessonq-gc (lessonq.gc)")
        worker.wait_for_log("Task lessonq.gc[")  # the worker ran it
        assert schedule.parent.stat().st_mode & 0o777 == 0o700
        assert any(path.name.startswith(schedule.name) for path in schedule.parent.iterdir())
        client.teardown(record.id)
        assert client.wait(record.id, timeout=30).state is LessonState.GONE
    finally:
        for process in reversed(processes):
            process.stop()
        for path in schedule.parent.glob(f"{schedule.name}*"):
            path.unlink()
    samples_in = re.search(r"metrics on \S+ \(samples in (\S+)\)", worker.log.read_text())
    assert samples_in is not None
    assert not Path(samples_in.group(1)).exists()  # removed when the worker stopped


def test_beat_refuses_a_schedule_directory_others_can_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    shared = tmp_path / f"lessonq-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(ValueError, match="only this user"):
        beat_schedule_file("default")
    shared.chmod(0o700)
    assert beat_schedule_file("default") == shared / "beat-schedule-default"
