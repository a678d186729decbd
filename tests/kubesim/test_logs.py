"""The pods/log subresource: what containers printed, and the apiserver's and the kubelet's refusals
in their words, through the official client, raw HTTP and kubectl."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubesim import ImageProfile, KubeSim
from kubesim.clock import timestamp
from tests.kubesim.conftest import (
    FAST,
    Raw,
    api_client,
    error_body,
    kubectl,
    needs_kubectl,
    pod_body,
    wait_for,
)

PROFILES = [
    ImageProfile(pattern="slow*", boot_seconds=100_000),  # never starts during a test
    ImageProfile(pattern="crashy*", outcome="crash", run_seconds=0.5, output=["boom"]),
    ImageProfile(pattern="partial*", output="no newline at the end"),
    ImageProfile(pattern="*", output=["one", "two", "three"]),
]
LOG = "/api/v1/namespaces/default/pods/{}/log"


@pytest.fixture
def log_sim() -> Iterator[KubeSim]:
    with KubeSim(time_scale=FAST, image_profiles=PROFILES) as sim:
        yield sim


@pytest.fixture
def core(log_sim: KubeSim) -> client.CoreV1Api:
    return client.CoreV1Api(api_client(log_sim))


@pytest.fixture
def raw(log_sim: KubeSim) -> Raw:
    return Raw(log_sim.url)


def phase(core: client.CoreV1Api, name: str, wanted: str) -> bool:
    return bool(core.read_namespaced_pod(name, "default").status.phase == wanted)


def running_pod(core: client.CoreV1Api, name: str, **spec: Any) -> None:
    core.create_namespaced_pod("default", pod_body(name, **spec))
    wait_for(lambda: phase(core, name, "Running"), what=f"{name} running")


def bad_request(raw: Raw, path: str) -> str:
    status, body, _ = raw.request("GET", path)
    assert (status, body["reason"], body["code"]) == (400, "BadRequest", 400), body
    return str(body["message"])


def test_a_running_container_prints_its_output(core: client.CoreV1Api, raw: Raw) -> None:
    running_pod(core, "p", image="nginx:1.25")
    assert core.read_namespaced_pod_log("p", "default") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("p", "default", container="main") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("p", "default", tail_lines=2) == "two\nthree\n"
    assert core.read_namespaced_pod_log("p", "default", tail_lines=0) == ""
    assert core.read_namespaced_pod_log("p", "default", limit_bytes=6) == "one\ntw"
    assert core.read_namespaced_pod_log("p", "default", tail_lines=1, limit_bytes=3) == "thr"
    status, text, headers = raw.request("GET", LOG.format("p"))
    assert (status, text) == (200, "one\ntwo\nthree\n")
    assert headers["Content-Type"].startswith("text/plain")


def test_timestamps_and_since(core: client.CoreV1Api, raw: Raw) -> None:
    running_pod(core, "p", image="nginx:1.25")
    stamped = core.read_namespaced_pod_log("p", "default", timestamps=True, tail_lines=1)
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.000000000Z three\n", stamped)
    assert match is not None, stamped
    started = (
        core.read_namespaced_pod("p", "default")
        .status.container_statuses[0]
        .state.running.started_at
    )
    assert match[1] == started.strftime("%Y-%m-%dT%H:%M:%S")
    assert core.read_namespaced_pod_log("p", "default", since_seconds=3600) == "one\ntwo\nthree\n"
    # the client has no sinceTime; kubectl logs --since-time sends it
    since = LOG.format("p") + "?sinceTime="
    assert raw.request("GET", since + timestamp(time.time() + 3600))[:2] == (200, None)
    earlier = raw.request("GET", since + timestamp(time.time() - 3600))
    assert earlier[:2] == (200, "one\ntwo\nthree\n")


def test_a_text_output_keeps_its_last_partial_line(core: client.CoreV1Api) -> None:
    running_pod(core, "p", image="partial:1")
    assert core.read_namespaced_pod_log("p", "default") == "no newline at the end"
    assert core.read_namespaced_pod_log("p", "default", tail_lines=1) == "no newline at the end"


def test_a_container_that_has_not_started_has_no_log(core: client.CoreV1Api, raw: Raw) -> None:
    core.create_namespaced_pod("default", pod_body("p", image="slow:1"))
    wait_for(lambda: core.read_namespaced_pod("p", "default").spec.node_name, what="scheduled")
    wanted = 'container "main" in pod "p" is waiting to start: ContainerCreating'
    assert bad_request(raw, LOG.format("p")) == wanted
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_pod_log("p", "default")
    assert caught.value.status == 400 and error_body(caught.value)["message"] == wanted


def test_a_pod_whose_image_does_not_pull() -> None:
    """ErrImagePull lasts a simulated second, so this cluster runs slower than the others."""
    profiles = [ImageProfile(pattern="*", outcome="pull-error", boot_seconds=0, jitter_seconds=0)]
    with KubeSim(time_scale=0.2, image_profiles=profiles) as sim:
        core, raw = client.CoreV1Api(api_client(sim)), Raw(sim.url)
        core.create_namespaced_pod("default", pod_body("p", image="broken:1"))
        about = 'container "main" in pod "p" is waiting to start: '

        def says(why: str) -> bool:
            return bad_request(raw, LOG.format("p")) == about + why

        wait_for(lambda: says("image can't be pulled"), what="ErrImagePull")
        wait_for(lambda: says("trying and failing to pull image"), what="ImagePullBackOff")


def test_an_unscheduled_pod_has_an_empty_log(core: client.CoreV1Api, raw: Raw) -> None:
    core.create_namespaced_pod("default", pod_body("p", nodeSelector={"no": "such-node"}))
    assert raw.request("GET", LOG.format("p"))[:2] == (200, None)  # an empty body


def test_which_container(core: client.CoreV1Api, raw: Raw) -> None:
    pod = pod_body("p")
    pod["spec"]["initContainers"] = [{"name": "init", "image": "busybox:1"}]
    pod["spec"]["containers"].append({"name": "sidecar", "image": "nginx:1.25"})
    core.create_namespaced_pod("default", pod)
    assert bad_request(raw, LOG.format("p")) == (
        "a container name must be specified for pod p, choose one of: [init main sidecar]"
    )
    assert bad_request(raw, LOG.format("p") + "?container=nope") == (
        "container nope is not valid for pod p"
    )
    wait_for(lambda: phase(core, "p", "Running"), what="running")
    assert core.read_namespaced_pod_log("p", "default", container="sidecar") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("p", "default", container="init") == "one\ntwo\nthree\n"


def test_previous_is_the_last_terminated_run(core: client.CoreV1Api, raw: Raw) -> None:
    running_pod(core, "steady", image="nginx:1.25")
    assert bad_request(raw, LOG.format("steady") + "?previous=true") == (
        'previous terminated container "main" in pod "steady" not found'
    )
    core.create_namespaced_pod("default", pod_body("crashy", image="crashy:1"))

    def restarted() -> bool:
        statuses = core.read_namespaced_pod("crashy", "default").status.container_statuses
        return bool(statuses and statuses[0].restart_count >= 1)

    wait_for(restarted, what="a restart")
    assert core.read_namespaced_pod_log("crashy", "default", previous=True) == "boom\n"
    # while it waits out its back-off, its log is the last run's
    assert core.read_namespaced_pod_log("crashy", "default") == "boom\n"


def test_a_missing_pod_is_not_found(raw: Raw) -> None:
    status, body, _ = raw.request("GET", LOG.format("nope"))
    assert status == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "pods"},
        "code": 404,
    }


INVALID, FORBIDDEN = "FieldValueInvalid", "FieldValueForbidden"


@pytest.mark.parametrize(
    ("query", "cause"),
    [
        (
            "tailLines=-1",
            (INVALID, "Invalid value: -1: must be greater than or equal to 0", "tailLines"),
        ),
        ("limitBytes=0", (INVALID, "Invalid value: 0: must be greater than 0", "limitBytes")),
        ("sinceSeconds=0", (INVALID, "Invalid value: 0: must be greater than 0", "sinceSeconds")),
        (
            "sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z",
            (
                FORBIDDEN,
                "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
                "[]",
            ),
        ),
    ],
)
def test_log_options_are_validated_first(raw: Raw, query: str, cause: tuple[str, ...]) -> None:
    """ValidatePodLogOptions runs before the pod is looked up: a missing pod still gets a 422."""
    reason, message, field = cause
    status, body, _ = raw.request("GET", LOG.format("nope") + "?" + query)
    assert status == 422
    assert body["message"] == f'PodLogOptions "nope" is invalid: {field}: {message}'
    assert body["details"] == {
        "name": "nope",
        "kind": "PodLogOptions",
        "causes": [{"reason": reason, "message": message, "field": field}],
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("tailLines=ten", 'strconv.ParseInt: parsing "ten": invalid syntax'),
        (
            "sinceTime=yesterday",
            'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" '
            'as "2006"',
        ),
        (
            "sinceTime=2024-01-01",
            'parsing time "2024-01-01" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T"',
        ),
        (
            "sinceTime=2024-13-01T00:00:00Z",
            'parsing time "2024-13-01T00:00:00Z": month out of range',
        ),
    ],
)
def test_malformed_log_parameters_are_bad_requests(raw: Raw, query: str, message: str) -> None:
    assert bad_request(raw, LOG.format("nope") + "?" + query) == message


def test_logs_are_counted_as_get_pods_log(
    log_sim: KubeSim, core: client.CoreV1Api, raw: Raw
) -> None:
    """As the apiserver names them (RBAC: get on pods/log); only GET is served."""
    running_pod(core, "p")
    core.read_namespaced_pod_log("p", "default")
    raw.request("GET", LOG.format("nope"))
    assert raw.request("POST", LOG.format("p"), {})[0] == 405
    requests = log_sim.stats()["requests"]
    assert requests["get"]["pods/log"] == {"200": 1, "404": 1}
    assert requests["create"]["pods/log"] == {"405": 1}
    resources = raw.request("GET", "/api/v1")[1]["resources"]
    assert {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod"}.items() <= (
        next(r for r in resources if r["name"] == "pods/log").items()
    )
    assert next(r for r in resources if r["name"] == "pods/log")["verbs"] == ["get"]


@needs_kubectl
def test_kubectl_logs(log_sim: KubeSim, core: client.CoreV1Api, tmp_path: Path) -> None:
    kubeconfig = log_sim.write_kubeconfig(tmp_path / "kubeconfig")
    running_pod(core, "p")
    assert kubectl(kubeconfig, tmp_path, "logs", "p").stdout == "one\ntwo\nthree\n"
    assert kubectl(kubeconfig, tmp_path, "logs", "p", "--tail=1").stdout == "three\n"
    core.create_namespaced_pod("default", pod_body("waiting", image="slow:1"))
    wait_for(lambda: core.read_namespaced_pod("waiting", "default").spec.node_name, what="bound")
    refused = kubectl(kubeconfig, tmp_path, "logs", "waiting", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (BadRequest): container "main" in pod "waiting" is waiting to '
        "start: ContainerCreating"
    )
