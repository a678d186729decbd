"""Pods come to life as on a real node: admission, image pulls, readiness, restarts, failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client, watch

from kubesim import ImageProfile, KubeSim
from tests.kubesim.conftest import (
    FAST,
    Raw,
    api_client,
    error_body,
    namespace,
    pod_body,
    wait_for,
)

PROFILES = [
    ImageProfile(pattern="*broken*", outcome="pull-error"),
    ImageProfile(pattern="*crashy*", outcome="crash", run_seconds=0.5),
    ImageProfile(pattern="*stuck*", outcome="never-ready"),
    ImageProfile(pattern="*", boot_seconds=1.0, jitter_seconds=0.2),
]


@pytest.fixture
def lab_sim() -> Iterator[KubeSim]:
    with KubeSim(time_scale=FAST, image_profiles=PROFILES) as sim:
        namespace(client.CoreV1Api(api_client(sim)), "a")
        yield sim


@pytest.fixture
def lab(lab_sim: KubeSim) -> client.CoreV1Api:
    return client.CoreV1Api(api_client(lab_sim))


@pytest.fixture
def sim_raw(lab_sim: KubeSim) -> Raw:
    return Raw(lab_sim.url)


def container_state(core: client.CoreV1Api, name: str) -> client.V1ContainerStatus | None:
    statuses = core.read_namespaced_pod(name, "a").status.container_statuses
    return statuses[0] if statuses else None


def waiting_reason(core: client.CoreV1Api, name: str) -> str | None:
    status = container_state(core, name)
    return status.state.waiting.reason if status and status.state.waiting else None


def conditions(pod: client.V1Pod) -> dict[str, str]:
    return {c.type: c.status for c in pod.status.conditions or []}


def test_a_pod_runs_and_becomes_ready(lab: client.CoreV1Api) -> None:
    probe = {"readinessProbe": {"tcpSocket": {"port": 22}, "initialDelaySeconds": 30}}
    created = lab.create_namespaced_pod("a", pod_body("p", container=probe))
    assert created.status.phase == "Pending"
    pod = wait_for(
        lambda: (
            (p := lab.read_namespaced_pod("p", "a")).status.phase == "Running"
            and conditions(p)["Ready"] == "True"
            and p
        ),
        what="ready",
    )
    assert conditions(pod) == {
        "PodScheduled": "True",
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "ContainersReady": "True",
        "Ready": "True",
    }
    assert pod.status.pod_ip.startswith("10.244.") and pod.status.host_ip.startswith("172.18.0.")
    status = pod.status.container_statuses[0]
    assert status.ready and status.state.running.started_at and status.restart_count == 0
    reasons = {
        e.reason
        for e in lab.list_namespaced_event("a", field_selector="involvedObject.name=p").items
    }
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= reasons


def test_container_creating_while_the_image_pulls() -> None:
    with KubeSim(
        time_scale=1.0, image_profiles=[ImageProfile(pattern="*", boot_seconds=60)]
    ) as sim:
        core = client.CoreV1Api(api_client(sim))
        core.create_namespaced_pod("default", pod_body("p"))
        reason = wait_for(
            lambda: (
                (s := core.read_namespaced_pod("p", "default").status.container_statuses)
                and s[0].state.waiting.reason
            ),
            what="status",
        )
        assert reason == "ContainerCreating"
        assert core.read_namespaced_pod("p", "default").status.phase == "Pending"


def test_readiness_probe_waits_for_initial_delay_and_probe_time() -> None:
    with KubeSim(
        time_scale=1.0,
        probe_seconds=60,
        image_profiles=[ImageProfile(pattern="*", boot_seconds=0, jitter_seconds=0)],
    ) as sim:
        core = client.CoreV1Api(api_client(sim))
        probe = {"readinessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 5}}
        core.create_namespaced_pod("default", pod_body("p", container=probe))
        pod = wait_for(
            lambda: (p := core.read_namespaced_pod("p", "default")).status.phase == "Running" and p,
            what="running",
        )
        assert pod.status.container_statuses[0].ready is False
        ready = next(c for c in pod.status.conditions if c.type == "Ready")
        assert (ready.status, ready.reason, ready.message) == (
            "False",
            "ContainersNotReady",
            "containers with unready status: [main]",
        )


def test_pull_error_then_back_off(lab: client.CoreV1Api) -> None:
    lab.create_namespaced_pod("a", pod_body("p", image="registry.local/broken:1"))
    wait_for(lambda: waiting_reason(lab, "p") == "ErrImagePull", what="ErrImagePull")
    wait_for(lambda: waiting_reason(lab, "p") == "ImagePullBackOff", what="ImagePullBackOff")
    assert lab.read_namespaced_pod("p", "a").status.phase == "Pending"
    messages = [
        e.message
        for e in lab.list_namespaced_event(
            "a", field_selector="involvedObject.name=p,reason=Failed"
        ).items
    ]
    assert any(m.startswith('Failed to pull image "registry.local/broken:1"') for m in messages)


def test_crash_loop(lab: client.CoreV1Api) -> None:
    lab.create_namespaced_pod("a", pod_body("p", image="crashy:1"))
    status = wait_for(
        lambda: (s := container_state(lab, "p")) and s.restart_count >= 1 and s.state.waiting and s,
        what="CrashLoopBackOff",
    )
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.exit_code == 1
    assert lab.read_namespaced_pod("p", "a").status.phase == "Running"


def test_never_ready(lab: client.CoreV1Api) -> None:
    probe = {"readinessProbe": {"httpGet": {"path": "/", "port": 80}}}
    lab.create_namespaced_pod("a", pod_body("p", image="stuck:1", container=probe))
    wait_for(
        lambda: (
            lab.list_namespaced_event(
                "a", field_selector="involvedObject.name=p,reason=Unhealthy"
            ).items
        ),
        what="Unhealthy",
    )
    pod = lab.read_namespaced_pod("p", "a")
    assert pod.status.phase == "Running" and conditions(pod)["Ready"] == "False"


def test_unknown_runtime_class_is_forbidden(core: client.CoreV1Api) -> None:
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_pod("default", pod_body("p", runtimeClassName="gvisor"))
    body = error_body(caught.value)
    assert (caught.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == 'pods "p" is forbidden: pod rejected: RuntimeClass "gvisor" not found'


def test_kata_is_installed_by_default(core: client.CoreV1Api, sim: KubeSim) -> None:
    node = client.NodeV1Api(api_client(sim))
    assert [rc.handler for rc in node.list_runtime_class().items] == ["kata"]
    core.create_namespaced_pod("default", pod_body("p", runtimeClassName="kata"))


def test_a_cluster_without_kata_refuses_it() -> None:
    with KubeSim(time_scale=FAST, runtime_classes=()) as sim:
        core = client.CoreV1Api(api_client(sim))
        with pytest.raises(client.ApiException) as caught:
            core.create_namespaced_pod("default", pod_body("p", runtimeClassName="kata"))
        assert caught.value.status == 403


def sysctl_pod(name: str) -> dict[str, object]:
    return pod_body(
        name, securityContext={"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}]}
    )


def test_unsafe_sysctl_fails_the_pod(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", sysctl_pod("p"))
    pod = wait_for(
        lambda: (p := core.read_namespaced_pod("p", "default")).status.phase == "Failed" and p,
        what="Failed",
    )
    assert pod.status.reason == "SysctlForbidden"
    assert (
        pod.status.message
        == 'Pod was rejected: forbidden sysctl: "net.ipv4.ip_forward" not allowlisted'
    )
    safe = pod_body(
        "q",
        securityContext={
            "sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65000"}]
        },
    )
    core.create_namespaced_pod("default", safe)
    wait_for(
        lambda: core.read_namespaced_pod("q", "default").status.phase == "Running",
        what="safe sysctl runs",
    )


def test_allowed_unsafe_sysctls() -> None:
    with KubeSim(time_scale=FAST, allowed_unsafe_sysctls=["net.ipv4.*"]) as sim:
        core = client.CoreV1Api(api_client(sim))
        core.create_namespaced_pod("default", sysctl_pod("p"))
        wait_for(
            lambda: core.read_namespaced_pod("p", "default").status.phase == "Running",
            what="running",
        )


def test_run_to_completion_pods_succeed(lab: client.CoreV1Api) -> None:
    lab.create_namespaced_pod("a", pod_body("once", restartPolicy="Never"))
    pod = wait_for(
        lambda: (p := lab.read_namespaced_pod("once", "a")).status.phase == "Succeeded" and p,
        what="Succeeded",
    )
    assert pod.status.container_statuses[0].state.terminated.reason == "Completed"


def test_init_containers_run_first(lab: client.CoreV1Api) -> None:
    body = pod_body("p", initContainers=[{"name": "prep", "image": "busybox:1"}])
    lab.create_namespaced_pod("a", body)
    pod = wait_for(
        lambda: (p := lab.read_namespaced_pod("p", "a")).status.phase == "Running" and p,
        what="running",
    )
    assert pod.status.init_container_statuses[0].state.terminated.exit_code == 0
    assert conditions(pod)["Initialized"] == "True"


def test_a_pod_bound_to_a_full_node_is_rejected(lab: client.CoreV1Api) -> None:
    for index in range(111):
        lab.create_namespaced_pod("a", pod_body(f"p{index}", nodeName="node-1"))
    pod = wait_for(
        lambda: (p := lab.read_namespaced_pod("p110", "a")).status.phase == "Failed" and p,
        what="OutOfpods",
    )
    assert pod.status.reason == "OutOfpods"
    assert lab.read_namespaced_pod("p0", "a").status.phase != "Failed"


def test_a_pod_bound_to_an_unknown_node_stays_pending(lab: client.CoreV1Api) -> None:
    lab.create_namespaced_pod("a", pod_body("p", nodeName="node-9"))
    lab.create_namespaced_pod("a", pod_body("q"))
    wait_for(lambda: lab.read_namespaced_pod("q", "a").status.phase == "Running", what="q runs")
    pod = lab.read_namespaced_pod("p", "a")
    assert pod.status.phase == "Pending" and pod.status.container_statuses is None


def test_the_first_exit_restarts_at_once_and_back_off_starts_at_the_second() -> None:
    profiles = [
        ImageProfile(
            pattern="*", boot_seconds=0, jitter_seconds=0, outcome="crash", run_seconds=0.3
        )
    ]
    with KubeSim(time_scale=1.0, image_profiles=profiles) as sim:
        core = client.CoreV1Api(api_client(sim))
        core.create_namespaced_pod("default", pod_body("p"))

        def status() -> client.V1ContainerStatus | None:
            found = core.read_namespaced_pod("p", "default").status.container_statuses
            return found[0] if found else None

        restarted = wait_for(
            lambda: (s := status()) and s.restart_count == 1 and s.state.running and s,
            what="running again after the first exit",
        )
        assert restarted.last_state.terminated.exit_code == 1
        backing_off = wait_for(
            lambda: (s := status()) and s.restart_count == 2 and s.state.waiting and s,
            what="CrashLoopBackOff after the second exit",
        )
        assert backing_off.state.waiting.reason == "CrashLoopBackOff"
        assert backing_off.state.waiting.message.startswith("back-off 10s restarting failed")
        back_offs = core.list_namespaced_event("default", field_selector="reason=BackOff").items
        assert len(back_offs) == 1


def test_a_pull_retry_keeps_the_pull_error_reasons(lab: client.CoreV1Api) -> None:
    start = lab.list_namespaced_pod("a").metadata.resource_version
    lab.create_namespaced_pod("a", pod_body("p", image="registry.local/broken:1"))

    def pulls() -> int:
        selector = "involvedObject.name=p,reason=Pulling"
        return sum(e.count for e in lab.list_namespaced_event("a", field_selector=selector).items)

    wait_for(lambda: pulls() >= 2, what="a second pull")
    wait_for(lambda: waiting_reason(lab, "p") == "ErrImagePull", what="the retry failing")
    reasons = []
    for event in watch.Watch().stream(
        lab.list_namespaced_pod, "a", resource_version=start, timeout_seconds=1
    ):
        statuses = event["object"].status.container_statuses or []
        if statuses and statuses[0].state.waiting:
            reasons.append(statuses[0].state.waiting.reason)
        if len(reasons) >= 6:
            break
    first_error = reasons.index("ErrImagePull")
    assert "ContainerCreating" not in reasons[first_error:], reasons
    assert reasons[0] == "ContainerCreating"


def test_a_negative_grace_period_means_one_second(lab: client.CoreV1Api, sim_raw: Raw) -> None:
    lab.create_namespaced_pod("a", pod_body("p"))
    wait_for(lambda: lab.read_namespaced_pod("p", "a").status.phase == "Running", what="running")
    status, body, _ = sim_raw.request(
        "DELETE", "/api/v1/namespaces/a/pods/p", {"gracePeriodSeconds": -5}
    )
    assert status == 200
    assert body["metadata"]["deletionGracePeriodSeconds"] == 1
