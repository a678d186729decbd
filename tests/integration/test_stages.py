"""Configuration and stages end to end: real workers configure a lesson's devices on kubesim
with a Job per endpoint and stage, move it between stages, fail it with the Job's own words,
and nothing is lost or left behind when a teardown or a killed worker gets in the way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jobs import CeleryProducer, StepPayload, sending_app
from lessons.files import MOUNT_PATH
from lessons.manifests import CREDENTIALS_NAME, FILES_NAME
from lessons.naming import LESSON_ID
from lessons.state import LessonRecord, LessonState
from lessons.steps import Step
from registry import StageConflict
from scheduler.client import LessonClient, StageError
from tests.support.kube import ClusterView
from tests.support.stack import Stack, running_stack
from tests.support.waiting import eventually

LESSON = "device-configuration"  # vqfx1 napalm-junos, frr1 ansible, frr2 python; 3 stages
CONFIGURED = ("frr1", "frr2", "vqfx1")


def config_jobs(view: ClusterView, namespace: str) -> dict[str, dict[str, Any]]:
    """The lesson's configuration Jobs that are not being deleted, by name."""
    jobs = view.batch.list_namespaced_job(namespace).items
    found = (view.api.sanitize_for_serialization(job) for job in jobs)
    return {
        job["metadata"]["name"]: job
        for job in found
        if not job["metadata"].get("deletionTimestamp")
    }


def names(stage: int, generation: int) -> set[str]:
    return {f"config-{endpoint}-{stage}-{generation}" for endpoint in CONFIGURED}


def ready(client: LessonClient, lesson_id: str, stage: int) -> LessonRecord:
    record = client.wait(lesson_id, timeout=90)
    assert record.state is LessonState.READY, record.error
    assert (record.stage, record.configured, record.configurable) == (stage, 3, 3)
    return record


def assert_job_configures(job: dict[str, Any], stage: int, files: set[str]) -> None:
    endpoint = job["metadata"]["labels"]["lessonq.io/configures"]
    conditions = {c["type"]: c["status"] for c in job["status"]["conditions"]}
    assert conditions.get("Complete") == "True" and job["status"]["succeeded"] == 1
    assert job["spec"]["backoffLimit"] == 3
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    path = {
        "vqfx1": f"stage{stage}/configs/vqfx1-junos.txt",
        "frr1": f"stage{stage}/configs/frr1.yml",
        "frr2": f"stage{stage}/configs/frr2.py",
    }[endpoint]
    assert container["command"][-1] == f"{MOUNT_PATH}/{path}"
    assert container["command"][0] == {"frr1": "ansible-playbook"}.get(endpoint, "python")
    assert container["volumeMounts"] == [
        {"name": FILES_NAME, "mountPath": MOUNT_PATH, "readOnly": True}
    ]
    [volume] = pod["volumes"]
    mounted = {item["path"] for item in volume["configMap"]["items"]}
    assert volume["configMap"]["name"] == FILES_NAME and mounted == files
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["ANTIDOTE_TARGET_HOST"]["value"] == endpoint
    for name, key in (("USERNAME", "username"), ("PASSWORD", "password")):
        reference = env[f"ANTIDOTE_TARGET_{name}"]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": CREDENTIALS_NAME, "key": f"{endpoint}.{key}"}
    assert "antidotepassword" not in json.dumps(job)


def test_a_lesson_is_configured_for_each_stage_it_is_moved_to(
    stack: Stack, session_id: str
) -> None:
    client = stack.client()
    view = ClusterView(stack.sim.url)
    record = ready(client, client.create(LESSON, session_id).id, 0)
    plan = client.registry.plan(record.id)
    files = set(plan.file_paths)
    assert "stage2/configs/frr2/frr.conf" in files and "diagram.png" in files
    jobs = config_jobs(view, record.namespace)
    assert set(jobs) == names(0, 0)
    for job in jobs.values():
        assert_job_configures(job, 0, files)
    secret = view.get("Secret", record.namespace, CREDENTIALS_NAME)
    assert set(secret["data"]) == {f"{e}.{k}" for e in CONFIGURED for k in ("username", "password")}

    # Stage 2: its Jobs run, stage 0's go.
    moving = client.set_stage(record.id, 2)
    assert (moving.state, moving.stage) == (LessonState.CONFIGURING, 2)
    with pytest.raises(StageConflict):
        client.set_stage(record.id, 1)
    ready(client, record.id, 2)
    eventually(lambda: set(config_jobs(view, record.namespace)) == names(2, 1), what="stage 2")
    for job in config_jobs(view, record.namespace).values():
        assert_job_configures(job, 2, files)

    # The same stage again: applied afresh, by Jobs of their own.
    client.set_stage(record.id, 2)
    ready(client, record.id, 2)
    eventually(lambda: set(config_jobs(view, record.namespace)) == names(2, 2), what="again")
    with pytest.raises(StageError, match="0 to 2"):
        client.set_stage(record.id, 3)

    client.teardown(record.id)
    assert client.wait(record.id, timeout=30).state is LessonState.GONE
    assert view.namespace(record.namespace) is None


def test_a_stage_change_racing_a_teardown_leaves_nothing(stack: Stack, session_id: str) -> None:
    client = stack.client()
    view = ClusterView(stack.sim.url)
    record = ready(client, client.create(LESSON, session_id).id, 0)

    client.set_stage(record.id, 1)
    client.teardown(record.id)

    gone = client.wait(record.id, timeout=30)
    assert gone.state is LessonState.GONE
    # Anything the stage change made went with the namespace; nothing of the lesson is left.
    assert view.namespaces(f"{LESSON_ID}={record.id}") == []
    assert record.id not in {live.id for live in client.list()}


FAILING = {
    "image_profiles": [
        {
            "pattern": "*/configurator:*",
            "boot_seconds": 1,
            "jitter_seconds": 0,
            "outcome": "fail",
            "run_seconds": 1,
            "output": ["reading the playbook", "fatal: [frr1]: UNREACHABLE! no route to host"],
        }
    ]
}


def test_a_configuration_that_fails_fails_the_lesson_with_its_last_lines(
    tmp_path: Path, session_id: str
) -> None:
    with running_stack(tmp_path, sim=FAILING) as stack:
        client = stack.client()
        failed = client.wait(client.create(LESSON, session_id).id, timeout=90)

    assert failed.state is LessonState.FAILED
    assert failed.error is not None
    assert failed.error.startswith("configure: ")
    assert "configuration Job config-" in failed.error and "BackoffLimitExceeded" in failed.error
    assert failed.error.endswith("fatal: [frr1]: UNREACHABLE! no route to host")


# Configuration takes a while (2 s at kubesim's 1/20 of real time), so a worker can be killed
# while the lesson is configuring.
SLOW = {
    "image_profiles": [
        {"pattern": "*/configurator:*", "boot_seconds": 20, "jitter_seconds": 0, "run_seconds": 20}
    ]
}


def test_a_worker_killed_while_configuring_and_a_stage_task_delivered_twice_end_ready(
    tmp_path: Path, session_id: str
) -> None:
    with running_stack(tmp_path, sim=SLOW) as stack:
        stack.start_beat()
        client = stack.client()
        view = ClusterView(stack.sim.url)
        record = client.create(LESSON, session_id)
        eventually(
            lambda: (
                client.status(record.id).current_step == "configure"
                and config_jobs(view, record.namespace)
            ),
            what="the configuration Jobs running",
        )
        stack.processes[0].kill()
        stack.start_worker("replacement")
        ready(client, record.id, 0)
        assert set(config_jobs(view, record.namespace)) == names(0, 0)

        # The stage change's task, delivered twice (as after a redelivery).
        moving = client.set_stage(record.id, 1)
        producer = CeleryProducer(sending_app(stack.settings), stack.settings.queue)
        producer.steps([Step.CONFIGURE], StepPayload.of(moving))
        ready(client, record.id, 1)
        assert set(config_jobs(view, record.namespace)) == names(1, 1)
