"""kubesim's nodes on the real control plane: registered Ready with a heartbeat, pods the real
scheduler binds run through kubesim's own kubelet and Multus rules, deletions finish."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from devstack.realcluster import RealCluster
from kubesim import KubeSim
from kubesim.config import SimConfig
from kubesim.nodes import Endpoint, SimulatedNodes
from tests.realcluster.conftest import NODES
from tests.support.kube import ClusterView
from tests.support.waiting import eventually

NETWORKS = "k8s.v1.cni.cncf.io/networks"
NAD = ("k8s.cni.cncf.io", "v1", "network-attachment-definitions")


@pytest.fixture
def namespace(admin_view: ClusterView, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"nodes-{request.node.name.split('_')[2]}-{int(time.time() * 1000) % 100000}"
    admin_view.core.create_namespace({"metadata": {"name": name}})
    yield name
    admin_view.core.delete_namespace(name)  # the namespace controller finishes it later


def pod(name: str, networks: str | None = None, probe: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "alpine:3.20"}
    if probe:
        container["readinessProbe"] = {"exec": {"command": ["true"]}, "initialDelaySeconds": 1}
    return {
        "metadata": {"name": name, "annotations": {NETWORKS: networks} if networks else {}},
        "spec": {"automountServiceAccountToken": False, "containers": [container]},
    }


def sandbox_failures(core: k8s.CoreV1Api, namespace: str, name: str) -> list[str]:
    selector = f"involvedObject.name={name},reason=FailedCreatePodSandBox"
    return [e.message for e in core.list_namespaced_event(namespace, field_selector=selector).items]


def ready(core: k8s.CoreV1Api, namespace: str, name: str) -> bool:
    conditions = core.read_namespaced_pod(name, namespace).status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def test_nodes_are_registered_ready_and_their_heartbeat_goes_on(
    cluster: RealCluster, admin_view: ClusterView
) -> None:
    nodes = {n.metadata.name: n for n in admin_view.core.list_node().items}
    assert set(NODES) <= set(nodes)
    for name in NODES:
        [condition] = [c for c in nodes[name].status.conditions if c.type == "Ready"]
        assert condition.status == "True"
        assert not nodes[name].spec.taints, nodes[name].spec.taints
        assert any(a.type == "InternalIP" for a in nodes[name].status.addresses)

    admin = cluster.admin
    endpoint = Endpoint(admin.url, admin.token, admin.ca_file)
    with SimulatedNodes(endpoint, SimConfig(nodes=["node-beat"]), heartbeat_seconds=0.2):
        try:

            def beat() -> Any:
                node = admin_view.core.read_node("node-beat")
                return next(c for c in node.status.conditions if c.type == "Ready")

            first = beat().last_heartbeat_time
            eventually(lambda: beat().last_heartbeat_time > first, what="a later heartbeat")
        finally:
            admin_view.core.delete_node("node-beat")  # no kubelet runs it any more


def test_a_pod_naming_a_missing_network_waits_until_the_definition_appears(
    admin_view: ClusterView, namespace: str
) -> None:
    core = admin_view.core
    core.create_namespaced_pod(namespace, pod("p", networks="link1", probe=True))
    [message, *_] = eventually(
        lambda: sandbox_failures(core, namespace, "p"), what="FailedCreatePodSandBox"
    )
    expected = f"cannot find a network-attachment-definition (link1) in namespace ({namespace})"
    assert expected in message

    def waiting() -> Any:
        # the kubelet writes the event, then the status: one request each
        status = core.read_namespaced_pod("p", namespace).status
        return status if status.container_statuses else None

    status = eventually(waiting, what="the container status")
    assert status.phase == "Pending"
    assert status.container_statuses[0].state.waiting.reason == "ContainerCreating"

    config = {"cniVersion": "0.3.1", "name": "link1", "type": "bridge", "bridge": "br-l1"}
    body = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "link1"},
        "spec": {"config": json.dumps(config)},
    }
    admin_view.custom.create_namespaced_custom_object(*NAD[:2], namespace, NAD[2], body)
    eventually(lambda: ready(core, namespace, "p"), what="the pod Ready after its probe")
    annotations = core.read_namespaced_pod("p", namespace).metadata.annotations
    interfaces = [n.get("interface") for n in json.loads(annotations[f"{NETWORKS[:-1]}-status"])]
    assert "net1" in interfaces


def test_an_invalid_interface_name_fails_the_sandbox_with_multus_message(
    admin_view: ClusterView, namespace: str
) -> None:
    core = admin_view.core
    core.create_namespaced_pod(namespace, pod("p", networks="link1@an-interface-name"))
    [message, *_] = eventually(
        lambda: sandbox_failures(core, namespace, "p"), what="FailedCreatePodSandBox"
    )
    assert "Failed to parse interface name: must be less than 15 chars" in message
    assert core.read_namespaced_pod("p", namespace).status.phase == "Pending"


def test_a_deleted_pod_stops_and_goes(admin_view: ClusterView, namespace: str) -> None:
    core = admin_view.core
    core.create_namespaced_pod(namespace, pod("p"))
    eventually(lambda: ready(core, namespace, "p"), what="the pod Ready")
    core.delete_namespaced_pod("p", namespace)  # graceful: the kubelet ends it

    def gone() -> bool:
        return "p" not in {p.metadata.name for p in core.list_namespaced_pod(namespace).items}

    eventually(gone, what="the pod gone")


def test_the_real_scheduler_fits_requests_in_the_nodes_allocatable_as_kubesim_does(
    cluster: RealCluster, admin_view: ClusterView, namespace: str
) -> None:
    """The nodes register kubesim's allocatable, and a pod too big for every node is refused by
    the real kube-scheduler in the words kubesim's scheduler uses."""
    core = admin_view.core
    config = cluster.nodes.config
    for node in core.list_node().items:
        if node.metadata.name in config.nodes:
            expected = config.allocatable_of(node.metadata.name)
            assert node.status.allocatable == node.status.capacity == expected
    body = pod("big")
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "1000", "memory": "1Ti"}}

    def refusal(core: k8s.CoreV1Api, namespace: str) -> str | None:
        selector = "involvedObject.name=big,reason=FailedScheduling"
        events = core.list_namespaced_event(namespace, field_selector=selector).items
        return str(events[0].message) if events else None

    core.create_namespaced_pod(namespace, body)
    real = eventually(lambda: refusal(core, namespace), what="FailedScheduling")
    with KubeSim(config, port=0) as sim:
        simulated = k8s.CoreV1Api(k8s.ApiClient(k8s.Configuration(host=sim.url)))
        simulated.create_namespace({"metadata": {"name": namespace}})
        simulated.create_namespaced_pod(namespace, body)
        words = eventually(lambda: refusal(simulated, namespace), what="kubesim's FailedScheduling")
    nodes = len(config.nodes)
    assert (
        real
        == f"0/{nodes} nodes are available: {nodes} Insufficient cpu, {nodes} Insufficient memory."
    )
    # kubesim words it as a newer scheduler does, with the preemption's verdict after it
    assert words.startswith(real + " preemption: ")


def ready_condition(core: k8s.CoreV1Api, namespace: str, name: str) -> tuple[str, str, str]:
    conditions = core.read_namespaced_pod(name, namespace).status.conditions or []
    [found] = [c for c in conditions if c.type == "Ready"] or [None]
    return (found.status, found.reason, found.message) if found else ("", "", "")


def test_a_readiness_gate_holds_ready_until_its_condition_is_patched(
    admin_view: ClusterView, namespace: str
) -> None:
    """The real apiserver takes the gate, kubesim's kubelet keeps Ready False until another
    client sets the gate's condition through pods/status, then works Ready out again."""
    core = admin_view.core
    gate = "example.com/wired"
    body = pod("p")
    body["spec"]["readinessGates"] = [{"conditionType": gate}]
    core.create_namespaced_pod(namespace, body)
    missing = (
        "False",
        "ReadinessGatesNotReady",
        f'corresponding condition of pod readiness gate "{gate}" does not exist.',
    )
    eventually(lambda: ready_condition(core, namespace, "p") == missing, what="gated Ready")
    patch = {"status": {"conditions": [{"type": gate, "status": "True"}]}}
    core.patch_namespaced_pod_status("p", namespace, patch)
    eventually(
        lambda: ready_condition(core, namespace, "p")[0] == "True", what="Ready once the gate is"
    )


def test_the_link_agent_wires_the_lesson_pods_on_its_node(
    admin_view: ClusterView, namespace: str
) -> None:
    core = admin_view.core
    body = pod("p")
    body["spec"]["readinessGates"] = [{"conditionType": "lessonq.io/links-wired"}]
    core.create_namespaced_pod(namespace, body)
    eventually(lambda: ready(core, namespace, "p"), what="wired and Ready")
    conditions = core.read_namespaced_pod("p", namespace).status.conditions
    assert any(c.type == "lessonq.io/links-wired" and c.status == "True" for c in conditions)
