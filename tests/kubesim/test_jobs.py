"""Job pods behave as their image profile says, and the Job controller answers as upstream's: a
success completes the Job, failures are replaced with back-off until backoffLimit is exceeded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kubesim import ImageProfile, KubeSim
from kubesim.jobs import pod_failure_backoff
from tests.kubesim.conftest import FAST, api_client, wait_for

FAILED_OUTPUT = ["connecting to vqfx1", "error: vqfx1: commit failed"]
PROFILES = [
    ImageProfile(pattern="cfg-ok*", run_seconds=1.0, output=["configured vqfx1"]),
    ImageProfile(pattern="cfg-fail*", outcome="fail", run_seconds=0.5, output=FAILED_OUTPUT),
    ImageProfile(pattern="cfg-crash*", outcome="crash"),
    ImageProfile(pattern="cfg-hang*", outcome="hang"),
    ImageProfile(pattern="*", run_seconds=1.0),
]

Apis = tuple[client.BatchV1Api, client.CoreV1Api]


@pytest.fixture
def apis() -> Iterator[Apis]:
    with KubeSim(time_scale=FAST, image_profiles=PROFILES) as sim:
        core = client.CoreV1Api(api_client(sim))
        files = {"stage1.configs.vqfx1": "set system host-name vqfx1\n"}
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": "lesson-files"}, "data": files}
        )
        credentials = {"username": "antidote", "password": "antidotepassword"}
        core.create_namespaced_secret(
            "default", {"metadata": {"name": "creds"}, "stringData": credentials}
        )
        yield client.BatchV1Api(api_client(sim)), core


def configure_job(
    name: str, image: str, restart: str = "Never", backoff: int = 3
) -> dict[str, Any]:
    """The shape lessonq's configure step creates: lesson files from a ConfigMap, credentials
    from a Secret, $(VAR) references in args."""
    container = {
        "name": "configurator",
        "image": image,
        "args": ["--host", "$(HOST)", "--user", "$(USERNAME)", "/antidote/stage1/configs/vqfx1"],
        "env": [
            {"name": "HOST", "value": "vqfx1"},
            {
                "name": "USERNAME",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "username"}},
            },
        ],
        "volumeMounts": [{"name": "lesson", "mountPath": "/antidote", "readOnly": True}],
    }
    volume = {
        "name": "lesson",
        "configMap": {
            "name": "lesson-files",
            "items": [{"key": "stage1.configs.vqfx1", "path": "stage1/configs/vqfx1"}],
        },
    }
    spec = {"restartPolicy": restart, "containers": [container], "volumes": [volume]}
    return {
        "metadata": {"name": name},
        "spec": {"backoffLimit": backoff, "template": {"spec": spec}},
    }


def finished(batch: client.BatchV1Api, name: str) -> client.V1Job | None:
    job = batch.read_namespaced_job(name, "default")
    done = any(
        c.type in ("Complete", "Failed") and c.status == "True" for c in job.status.conditions or []
    )
    return job if done else None


def job_pods(core: client.CoreV1Api, name: str) -> list[client.V1Pod]:
    selector = f"batch.kubernetes.io/job-name={name}"
    return list(core.list_namespaced_pod("default", label_selector=selector).items)


def conditions(job: client.V1Job) -> list[tuple[str, str, str]]:
    return [(c.type, c.status, c.reason) for c in job.status.conditions]


def events(core: client.CoreV1Api, name: str) -> list[str]:
    found = core.list_namespaced_event("default", field_selector=f"involvedObject.name={name}")
    return [e.reason for e in found.items]


def test_a_job_whose_pod_succeeds_completes(apis: Apis) -> None:
    batch, core = apis
    created = batch.create_namespaced_job("default", configure_job("cfg", "cfg-ok:1"))
    template = created.spec.template.spec
    assert template.volumes[0].config_map.default_mode == 420  # the apiserver's default
    assert template.containers[0].env[1].value_from.secret_key_ref.key == "username"
    job = wait_for(lambda: finished(batch, "cfg"), what="job finished")
    assert conditions(job) == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached"),
    ]
    status = job.status
    assert (status.succeeded, status.failed, status.active) == (1, None, None)
    assert (status.ready, status.terminating) == (0, 0)
    assert status.start_time and status.completion_time >= status.start_time
    (pod,) = job_pods(core, "cfg")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (pod.status.phase, terminated.exit_code, terminated.reason) == (
        "Succeeded",
        0,
        "Completed",
    )
    assert "Completed" in events(core, "cfg")


def test_a_job_whose_pods_fail_is_failed_once_backoff_limit_is_exceeded(apis: Apis) -> None:
    """restartPolicy Never: every failure is a new pod, made after the controller's back-off;
    backoffLimit 3 allows three retries, so the fourth failure fails the Job."""
    batch, core = apis
    batch.create_namespaced_job("default", configure_job("cfg", "cfg-fail:1", backoff=3))
    job = wait_for(lambda: finished(batch, "cfg"), timeout=30, what="job failed")
    assert conditions(job) == [
        ("FailureTarget", "True", "BackoffLimitExceeded"),
        ("Failed", "True", "BackoffLimitExceeded"),
    ]
    assert job.status.conditions[1].message == "Job has reached the specified backoff limit"
    status = job.status
    assert (status.failed, status.succeeded, status.active) == (4, None, None)
    assert status.start_time and status.completion_time is None  # only a success has one
    pods = job_pods(core, "cfg")
    assert len(pods) == 4
    for pod in pods:
        terminated = pod.status.container_statuses[0].state.terminated
        assert (pod.status.phase, terminated.exit_code, terminated.reason) == ("Failed", 1, "Error")
    reasons = events(core, "cfg")
    assert reasons.count("SuccessfulCreate") == 4 and "BackoffLimitExceeded" in reasons
    # what lessonq puts in the lesson's error: the failed pod's last lines
    log = core.read_namespaced_pod_log(pods[0].metadata.name, "default", tail_lines=1)
    assert log == "error: vqfx1: commit failed\n"


def test_a_crashing_job_pod_fails_the_job_at_backoff_limit_zero(apis: Apis) -> None:
    batch, core = apis
    batch.create_namespaced_job("default", configure_job("cfg", "cfg-crash:1", backoff=0))
    job = wait_for(lambda: finished(batch, "cfg"), what="job failed")
    assert conditions(job)[-1] == ("Failed", "True", "BackoffLimitExceeded")
    assert job.status.failed == 1 and len(job_pods(core, "cfg")) == 1


def test_restart_on_failure_counts_restarts_against_the_limit(apis: Apis) -> None:
    """restartPolicy OnFailure: the container restarts in its pod; once the restarts reach
    backoffLimit the Job fails and its pod is stopped, counted as failed."""
    batch, core = apis
    batch.create_namespaced_job(
        "default", configure_job("cfg", "cfg-fail:1", restart="OnFailure", backoff=2)
    )
    job = wait_for(lambda: finished(batch, "cfg"), timeout=30, what="job failed")
    assert conditions(job)[-1] == ("Failed", "True", "BackoffLimitExceeded")
    assert job.status.failed == 1
    wait_for(lambda: not job_pods(core, "cfg"), what="the pod stopped")


def test_a_job_whose_pod_never_finishes_stays_active_until_deleted(apis: Apis) -> None:
    batch, core = apis
    batch.create_namespaced_job("default", configure_job("cfg", "cfg-hang:1"))

    def running() -> client.V1Pod | None:
        pods = job_pods(core, "cfg")
        return pods[0] if pods and pods[0].status.phase == "Running" else None

    pod = wait_for(running, what="pod running")
    time.sleep(0.2)  # many times the completion time of a pod that would finish
    assert core.read_namespaced_pod(pod.metadata.name, "default").status.phase == "Running"
    job = batch.read_namespaced_job("cfg", "default")
    assert (job.status.active, job.status.ready, job.status.conditions) == (1, 1, None)
    batch.delete_namespaced_job("cfg", "default", propagation_policy="Background")
    wait_for(lambda: not job_pods(core, "cfg"), what="pods collected")


def test_pod_failure_back_off_doubles_to_ten_minutes() -> None:
    assert [pod_failure_backoff(n) for n in (1, 2, 3, 7, 20)] == [10, 20, 40, 600, 600]


def waiting(core: client.CoreV1Api, name: str) -> client.V1ContainerStateWaiting | None:
    pods = job_pods(core, name)
    statuses = pods[0].status.container_statuses if pods else None
    return statuses[0].state.waiting if statuses else None


def pod_events(core: client.CoreV1Api, name: str) -> list[tuple[str, str]]:
    pods = job_pods(core, name)
    if not pods:
        return []
    selector = f"involvedObject.name={pods[0].metadata.name}"
    found = core.list_namespaced_event("default", field_selector=selector).items
    return [(e.reason, e.message) for e in found]


def test_a_pod_waits_for_its_config_map_volume(apis: Apis) -> None:
    """As on a node: the volume is set up before the sandbox, retried with back-off."""
    batch, core = apis
    core.delete_namespaced_config_map("lesson-files", "default")
    batch.create_namespaced_job("default", configure_job("cfg", "cfg-ok:1"))
    failed_mount = (
        "FailedMount",
        'MountVolume.SetUp failed for volume "lesson" : configmap "lesson-files" not found',
    )
    wait_for(lambda: failed_mount in pod_events(core, "cfg"), what="FailedMount")
    assert waiting(core, "cfg").reason == "ContainerCreating"
    # the file's key is not there yet: the items cannot be projected
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "lesson-files"}, "data": {"other": "x"}}
    )
    missing_key = (
        "FailedMount",
        'MountVolume.SetUp failed for volume "lesson" : configmap references non-existent config '
        "key: stage1.configs.vqfx1",
    )
    wait_for(lambda: missing_key in pod_events(core, "cfg"), what="missing key")
    core.patch_namespaced_config_map(
        "lesson-files", "default", {"data": {"stage1.configs.vqfx1": "x"}}
    )
    assert wait_for(lambda: finished(batch, "cfg"), timeout=30, what="job finished")


def test_a_container_waits_for_the_secret_its_environment_names(apis: Apis) -> None:
    batch, core = apis
    core.delete_namespaced_secret("creds", "default")
    batch.create_namespaced_job("default", configure_job("cfg", "cfg-ok:1"))
    state = wait_for(
        lambda: (w := waiting(core, "cfg")) and w.reason == "CreateContainerConfigError" and w,
        what="CreateContainerConfigError",
    )
    assert state.message == 'secret "creds" not found'
    assert ("Failed", 'Error: secret "creds" not found') in pod_events(core, "cfg")
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "creds"}, "stringData": {"password": "x"}}
    )
    wanted = "couldn't find key username in Secret default/creds"
    wait_for(lambda: (w := waiting(core, "cfg")) and w.message == wanted, what="missing key")
    core.patch_namespaced_secret("creds", "default", {"stringData": {"username": "antidote"}})
    assert wait_for(lambda: finished(batch, "cfg"), timeout=30, what="job finished")
