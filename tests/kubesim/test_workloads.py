"""Jobs, Services and NetworkPolicies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kubesim import ImageProfile, KubeSim
from tests.kubesim.conftest import FAST, Raw, api_client, error_body, namespace, wait_for


def job_body(name: str, image: str, restart: str = "Never", backoff: int = 1) -> dict[str, Any]:
    spec = {"restartPolicy": restart, "containers": [{"name": "configure", "image": image}]}
    return {
        "metadata": {"name": name},
        "spec": {"backoffLimit": backoff, "template": {"spec": spec}},
    }


@pytest.fixture
def jobs() -> Iterator[tuple[client.BatchV1Api, client.CoreV1Api]]:
    profiles = [
        ImageProfile(pattern="*fail*", outcome="crash", run_seconds=0.5),
        ImageProfile(pattern="*", run_seconds=1.0),
    ]
    with KubeSim(time_scale=FAST, image_profiles=profiles) as sim:
        yield client.BatchV1Api(api_client(sim)), client.CoreV1Api(api_client(sim))


def job_condition(batch: client.BatchV1Api, name: str) -> client.V1JobCondition | None:
    status = batch.read_namespaced_job(name, "default").status
    return next(
        (
            c
            for c in status.conditions or []
            if c.type in ("Complete", "Failed") and c.status == "True"
        ),
        None,
    )


def test_job_runs_to_completion(jobs: tuple[client.BatchV1Api, client.CoreV1Api]) -> None:
    batch, core = jobs
    created = batch.create_namespaced_job("default", job_body("cfg", "napalm:1"))
    assert created.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": created.metadata.uid
    }
    condition = wait_for(lambda: job_condition(batch, "cfg"), what="job finished")
    assert condition.type == "Complete"
    job = batch.read_namespaced_job("cfg", "default")
    assert job.status.succeeded == 1 and job.status.completion_time
    pods = core.list_namespaced_pod(
        "default", label_selector="batch.kubernetes.io/job-name=cfg"
    ).items
    assert [p.status.phase for p in pods] == ["Succeeded"]
    assert pods[0].metadata.owner_references[0].uid == created.metadata.uid


def test_job_fails_after_backoff_limit(jobs: tuple[client.BatchV1Api, client.CoreV1Api]) -> None:
    batch, core = jobs
    batch.create_namespaced_job("default", job_body("cfg", "will-fail:1", backoff=1))
    condition = wait_for(lambda: job_condition(batch, "cfg"), timeout=20, what="job failed")
    assert (condition.type, condition.reason) == ("Failed", "BackoffLimitExceeded")
    assert batch.read_namespaced_job("cfg", "default").status.failed == 2
    reasons = {
        e.reason
        for e in core.list_namespaced_event(
            "default", field_selector="involvedObject.name=cfg"
        ).items
    }
    assert {"SuccessfulCreate", "BackoffLimitExceeded"} <= reasons


def test_background_delete_of_a_job_removes_its_pods(
    jobs: tuple[client.BatchV1Api, client.CoreV1Api],
) -> None:
    batch, core = jobs
    batch.create_namespaced_job("default", job_body("cfg", "napalm:1"))
    wait_for(lambda: core.list_namespaced_pod("default").items, what="job pod")
    batch.delete_namespaced_job("cfg", "default", propagation_policy="Background")
    wait_for(lambda: not core.list_namespaced_pod("default").items, what="pods collected")


def test_services_get_cluster_ips(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    first = core.create_namespaced_service(
        "a",
        {
            "metadata": {"name": "vqfx1"},
            "spec": {"selector": {"app": "vqfx1"}, "ports": [{"port": 22}]},
        },
    )
    second = core.create_namespaced_service(
        "a", {"metadata": {"name": "vqfx2"}, "spec": {"ports": [{"name": "ssh", "port": 22}]}}
    )
    assert (
        first.spec.cluster_ip.startswith("10.96.")
        and first.spec.cluster_ip != second.spec.cluster_ip
    )
    assert first.spec.cluster_ips == [first.spec.cluster_ip]
    assert (
        first.spec.type == "ClusterIP"
        and first.spec.ports[0].target_port == 22
        and first.spec.ports[0].protocol == "TCP"
    )
    headless = core.create_namespaced_service(
        "a", {"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "selector": {"app": "db"}}}
    )
    assert headless.spec.cluster_ip == "None"
    clash = {
        "metadata": {"name": "dup"},
        "spec": {"clusterIP": first.spec.cluster_ip, "ports": [{"port": 1}]},
    }
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_service("a", clash)
    assert caught.value.status == 422


def test_cluster_ip_is_immutable_and_kept_on_replace(core: client.CoreV1Api, raw: Raw) -> None:
    svc = core.create_namespaced_service(
        "default", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    )
    replaced = core.replace_namespaced_service(
        "web", "default", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 8080}]}}
    )
    assert replaced.spec.cluster_ip == svc.spec.cluster_ip
    status, body, _ = raw.request(
        "PATCH",
        "/api/v1/namespaces/default/services/web",
        {"spec": {"clusterIP": "10.96.9.9"}},
        "application/merge-patch+json",
    )
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.clusterIPs[0]"


def test_network_policy_defaults(sim: KubeSim) -> None:
    net = client.NetworkingV1Api(api_client(sim))
    egress = [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "lesson"}}}]},
        {"ports": [{"port": 53}, {"port": 53, "protocol": "UDP"}]},
    ]
    created = net.create_namespaced_network_policy(
        "default", {"metadata": {"name": "lesson"}, "spec": {"podSelector": {}, "egress": egress}}
    )
    assert created.spec.policy_types == ["Ingress", "Egress"]
    assert [p.protocol for p in created.spec.egress[1].ports] == ["TCP", "UDP"]
    assert [p.metadata.name for p in net.list_namespaced_network_policy("default").items] == [
        "lesson"
    ]


def test_cluster_ips_are_handed_out_after_the_last_one(core: client.CoreV1Api, raw: Raw) -> None:
    """The allocator keeps what is taken and moves on: a freed IP is not handed out at once."""

    def service(name: str, **spec: Any) -> client.V1Service:
        body = {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}], **spec}}
        return core.create_namespaced_service("default", body)

    first, second = service("a").spec.cluster_ip, service("b").spec.cluster_ip
    assert (first, second) == ("10.96.0.2", "10.96.0.3")  # 10.96.0.1 is default/kubernetes
    dry = {"metadata": {"name": "dry"}, "spec": {"ports": [{"port": 80}]}}
    status, body, _ = raw.request("POST", "/api/v1/namespaces/default/services?dryRun=All", dry)
    assert (status, body["spec"]["clusterIP"]) == (201, "10.96.0.4")
    core.delete_namespaced_service("a", "default")
    assert service("c").spec.cluster_ip == "10.96.0.5"
    assert service("d", clusterIP=first).spec.cluster_ip == first  # free again
    with pytest.raises(client.ApiException) as caught:
        service("e", clusterIP=second)
    cause = error_body(caught.value)["details"]["causes"][0]
    assert cause["field"] == "spec.clusterIPs"
    assert cause["message"].endswith(
        "failed to allocate IP 10.96.0.3: provided IP is already allocated"
    )
    node_ports = service(
        "f", type="NodePort", ports=[{"name": "a", "port": 1}, {"name": "b", "port": 2}]
    )
    assert [p.node_port for p in node_ports.spec.ports] == [30000, 30001]
