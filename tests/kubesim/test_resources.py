"""Nodes' allocatable resources: the configuration, the Node objects, the scheduler's
NodeResourcesFit filter and the kubelet's admission."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from pydantic import ValidationError

from kubesim import KubeSim
from kubesim.capacity import pod_requests
from kubesim.config import SimConfig, config_from_args
from tests.kubesim.conftest import FAST, api_client, namespace, pod_body, wait_for

ON_NODE_1 = {"kubernetes.io/hostname": "node-1"}


def asking(cpu: str | None = None, memory: str | None = None) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"resources": {"requests": requests}}


def cluster(**config: Any) -> Iterator[client.CoreV1Api]:
    with KubeSim(time_scale=FAST, **config) as sim:
        core = client.CoreV1Api(api_client(sim))
        namespace(core, "a")
        yield core


@pytest.fixture
def small() -> Iterator[client.CoreV1Api]:
    """node-1 and node-2 with 2 cpus and 4Gi each; node-2 holds 3 pods at most."""
    yield from cluster(
        nodes=["node-1", "node-2"],
        allocatable={"cpu": "2", "memory": "4Gi"},
        node_allocatable={"node-2": {"pods": 3}},
    )


def node_of(core: client.CoreV1Api, name: str) -> str:
    return wait_for(
        lambda: core.read_namespaced_pod(name, "a").spec.node_name, what=f"{name} bound"
    )


def failed_scheduling(core: client.CoreV1Api, name: str) -> str:
    events = wait_for(
        lambda: (
            core.list_namespaced_event(
                "a", field_selector=f"involvedObject.name={name},reason=FailedScheduling"
            ).items
        ),
        what=f"FailedScheduling of {name}",
    )
    message: str = events[-1].message
    return message.split(" preemption:")[0]


def test_config_from_flags_text_and_json() -> None:
    config = config_from_args(
        [
            "--nodes",
            "node-1,node-2,node-3",
            "--allocatable",
            "cpu:4,memory:8Gi",
            "--node-allocatable",
            "node-1=cpu:500m,pods:10,node-3=memory:1Gi",
        ]
    )
    assert config.allocatable_of("node-1") == {
        "cpu": "500m",
        "memory": "8Gi",
        "pods": "10",
        "ephemeral-storage": "100Gi",
    }
    assert config.allocatable_of("node-2")["cpu"] == "4"
    assert config.allocatable_amounts("node-3") == {
        "cpu": 4000,
        "memory": 2**30,
        "pods": 110,
        "ephemeral-storage": 100 * 2**30,
    }
    same = SimConfig.model_validate(
        {"allocatable": '{"cpu": 4}', "node_allocatable": '{"node-1": {"pods": 10}}'}
    )
    assert same.allocatable_of("node-1")["cpu"] == "4" and same.allocatable_of("node-1")["pods"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"allocatable": "cpu:lots"}, "allocatable: cpu 'lots' is not a non-negative quantity"),
        ({"allocatable": "memory:-1Gi"}, "is not a non-negative quantity"),
        ({"allocatable": "pods:1.5"}, "allocatable: pods '1.5' is not a whole number"),
        ({"allocatable": "cpu=4"}, "'cpu=4' is not resource:quantity"),
        ({"node_allocatable": "cpu:4"}, "'cpu:4' names no node"),
        ({"node_allocatable": "node-9=cpu:4"}, "node_allocatable: node-9 is not one of the nodes"),
    ],
)
def test_config_refuses_bad_allocatable(fields: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        SimConfig.model_validate(fields)


def test_pod_requests_take_the_larger_of_the_containers_sum_and_any_init_container() -> None:
    spec = {
        "containers": [
            {"resources": {"requests": {"cpu": "0.25", "memory": "1Mi"}}},
            {"resources": {"requests": {"cpu": "250m", "memory": "1e6"}}},
            {},
        ],
        "initContainers": [
            {"resources": {"requests": {"cpu": "1", "memory": "1k"}}},
            {"resources": {"requests": {"cpu": "100m", "example.com/dongle": "2"}}},
        ],
        "overhead": {"cpu": "1.5m", "memory": "1Ki"},
    }
    assert pod_requests(spec) == {
        "cpu": 1000 + 2,  # millicores round up, as Quantity.MilliValue does
        "memory": 2**20 + 10**6 + 1024,
        "example.com/dongle": 2,
    }


def test_node_objects_report_their_allocatable_and_capacity(small: client.CoreV1Api) -> None:
    nodes = {node.metadata.name: node.status for node in small.list_node().items}
    expected = {"cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    assert nodes["node-1"].allocatable == nodes["node-1"].capacity == expected
    assert nodes["node-2"].allocatable == {**expected, "pods": "3"}


def test_pods_fit_by_cpu(small: client.CoreV1Api) -> None:
    small.create_namespaced_pod("a", pod_body("big", container=asking(cpu="1500m")))
    assert node_of(small, "big") == "node-1"
    small.create_namespaced_pod("a", pod_body("next", container=asking(cpu="1")))
    assert node_of(small, "next") == "node-2"  # 500m left on node-1
    small.create_namespaced_pod("a", pod_body("small", container=asking(cpu="0.5")))
    assert node_of(small, "small") == "node-1"  # exactly what is left
    small.create_namespaced_pod("a", pod_body("more", container=asking(cpu="1001m")))
    assert failed_scheduling(small, "more") == "0/2 nodes are available: 2 Insufficient cpu."
    assert small.read_namespaced_pod("more", "a").spec.node_name is None


def test_pods_fit_by_memory(small: client.CoreV1Api) -> None:
    small.create_namespaced_pod("a", pod_body("m1", container=asking(memory="3Gi")))
    assert node_of(small, "m1") == "node-1"
    small.create_namespaced_pod("a", pod_body("m2", container=asking(memory="2Gi")))
    assert node_of(small, "m2") == "node-2"
    small.create_namespaced_pod("a", pod_body("m3", container=asking(memory="3Gi")))
    assert failed_scheduling(small, "m3") == "0/2 nodes are available: 2 Insufficient memory."


def test_pod_count_is_the_nodes_own(small: client.CoreV1Api) -> None:
    on_node_2 = {"kubernetes.io/hostname": "node-2"}
    for index in range(4):
        small.create_namespaced_pod("a", pod_body(f"p{index}", nodeSelector=on_node_2))
    for index in range(3):
        assert node_of(small, f"p{index}") == "node-2"
    assert failed_scheduling(small, "p3") == (
        "0/2 nodes are available: 1 Too many pods, "
        "1 node(s) didn't match Pod's node affinity/selector."
    )


def test_an_init_container_counts_alone_against_the_containers_sum(
    small: client.CoreV1Api,
) -> None:
    """1500m: the larger of 500m + 500m and the init container's 1500m; neither 2500m (the pod
    would fit nowhere) nor 1000m (the second pod would fit beside it)."""
    halves = [{"name": f"c{i}", "image": "nginx:1.25", **asking(cpu="500m")} for i in range(2)]
    prep = [{"name": "prep", "image": "busybox:1", **asking(cpu="1500m")}]
    body = pod_body("p", nodeSelector=ON_NODE_1, initContainers=prep)
    body["spec"]["containers"] = halves
    small.create_namespaced_pod("a", body)
    assert node_of(small, "p") == "node-1"
    small.create_namespaced_pod(
        "a", pod_body("q", nodeSelector=ON_NODE_1, container=asking(cpu="1"))
    )
    assert failed_scheduling(small, "q") == (
        "0/2 nodes are available: 1 Insufficient cpu, "
        "1 node(s) didn't match Pod's node affinity/selector."
    )


def test_the_message_counts_each_resource_a_node_lacks() -> None:
    """NodeResourcesFit runs before InterPodAffinity and reports every resource a node lacks."""
    for core in cluster(node_allocatable={"node-1": {"cpu": "1", "memory": "1Gi"}}):
        affinity = {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {"lesson": "absent"}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
        body = pod_body("p", affinity=affinity, container=asking(cpu="2", memory="2Gi"))
        core.create_namespaced_pod("a", body)
        assert failed_scheduling(core, "p") == (
            "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, "
            "2 node(s) didn't match pod affinity rules."
        )


def test_the_reasons_are_sorted_as_texts_count_first(core: client.CoreV1Api) -> None:
    """FitError sorts "<count> <reason>" strings, as the real v1.20 scheduler words it:
    `0/3 nodes are available: 1 node(s) didn't match Pod's node affinity, 2 Insufficient cpu.`"""
    namespace(core, "a")
    not_node_1 = {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["node-1"]}
    required = {"nodeSelectorTerms": [{"matchExpressions": [not_node_1]}]}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    core.create_namespaced_pod("a", pod_body("p", affinity=affinity, container=asking("1000")))
    assert failed_scheduling(core, "p") == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 Insufficient cpu."
    )


def test_a_waiting_pod_is_scheduled_once_a_pod_on_the_node_goes(small: client.CoreV1Api) -> None:
    small.create_namespaced_pod(
        "a", pod_body("first", nodeSelector=ON_NODE_1, container=asking(cpu="2"))
    )
    assert node_of(small, "first") == "node-1"
    small.create_namespaced_pod(
        "a", pod_body("second", nodeSelector=ON_NODE_1, container=asking(cpu="1"))
    )
    assert failed_scheduling(small, "second").startswith("0/2 nodes are available: 1 Insufficient")
    small.delete_namespaced_pod("first", "a")
    assert node_of(small, "second") == "node-1"


def test_a_finished_pod_frees_its_requests(small: client.CoreV1Api) -> None:
    body = pod_body("job", nodeSelector=ON_NODE_1, restartPolicy="Never", container=asking("2"))
    small.create_namespaced_pod("a", body)
    small.create_namespaced_pod(
        "a", pod_body("after", nodeSelector=ON_NODE_1, container=asking(cpu="2"))
    )
    wait_for(
        lambda: small.read_namespaced_pod("job", "a").status.phase == "Succeeded",
        what="job done",
    )
    assert node_of(small, "after") == "node-1"


def test_the_kubelet_refuses_a_pod_bound_past_the_scheduler_that_does_not_fit(
    small: client.CoreV1Api,
) -> None:
    small.create_namespaced_pod("a", pod_body("p", nodeName="node-1", container=asking("1500m")))
    wait_for(lambda: small.read_namespaced_pod("p", "a").status.phase == "Running", what="runs")
    small.create_namespaced_pod("a", pod_body("q", nodeName="node-1", container=asking("1")))
    pod = wait_for(
        lambda: (p := small.read_namespaced_pod("q", "a")).status.phase == "Failed" and p,
        what="OutOfcpu",
    )
    assert pod.status.reason == "OutOfcpu"
    assert pod.status.message == (
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 1000, used: 1500, "
        "capacity: 2000"
    )
