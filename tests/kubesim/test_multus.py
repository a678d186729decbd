"""Multus: the networks annotation in both forms, missing and broken definitions, shared bridges."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from kubesim import KubeSim
from kubesim.kubelet import Kubelet
from tests.kubesim.conftest import FAST, api_client, namespace, pod_body, wait_for

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
STATUS = "k8s.v1.cni.cncf.io/network-status"


def nad(custom: client.CustomObjectsApi, ns: str, name: str, config: object) -> None:
    text = config if isinstance(config, str) else json.dumps(config)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name},
        "spec": {"config": text},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)


def bridge(name: str, bridge_name: str, **extra: object) -> dict[str, object]:
    return {
        "cniVersion": "0.3.1",
        "name": name,
        "type": "bridge",
        "bridge": bridge_name,
        "ipam": {},
        **extra,
    }


def network_status(core: client.CoreV1Api, name: str, ns: str) -> list[dict[str, object]]:
    text = wait_for(
        lambda: (core.read_namespaced_pod(name, ns).metadata.annotations or {}).get(STATUS),
        what="network-status",
    )
    loaded: list[dict[str, object]] = json.loads(text)
    return loaded


def sandbox_failures(core: client.CoreV1Api, ns: str, pod: str) -> list[str]:
    events = core.list_namespaced_event(
        ns, field_selector=f"involvedObject.name={pod},reason=FailedCreatePodSandBox"
    ).items
    return [e.message for e in events]


def test_text_form(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> None:
    namespace(core, "lesson")
    namespace(core, "shared")
    nad(custom, "lesson", "link1", bridge("link1", "br-l1"))
    nad(custom, "shared", "mgmt", bridge("mgmt", "br-mgmt"))
    core.create_namespaced_pod(
        "lesson", pod_body("vqfx1", annotations={NETWORKS: "link1@em3, shared/mgmt"})
    )
    entries = network_status(core, "vqfx1", "lesson")
    assert entries[0]["interface"] == "eth0" and entries[0]["default"] is True
    assert entries[0]["ips"] == [core.read_namespaced_pod("vqfx1", "lesson").status.pod_ip]
    assert [(e["name"], e["interface"]) for e in entries[1:]] == [
        ("lesson/link1", "em3"),
        ("shared/mgmt", "net2"),
    ]


def static_bridge(name: str, bridge_name: str) -> dict[str, object]:
    """A bridge whose ends take their addresses from the pod's annotation, as lessonq's links."""
    return bridge(name, bridge_name, ipam={"type": "static"}, capabilities={"ips": True})


def selecting(**entry: object) -> dict[str, str]:
    return {NETWORKS: json.dumps([{"name": "link1", "namespace": "lesson", **entry}])}


def test_json_form_with_ips_and_mac(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    namespace(core, "lesson")
    nad(custom, "lesson", "link1", static_bridge("link1", "br-l1"))
    annotations = selecting(interface="eth1", ips=["10.31.0.11/24"], mac="02:00:00:00:00:11")
    core.create_namespaced_pod("lesson", pod_body("p", annotations=annotations))
    entry = network_status(core, "p", "lesson")[1]
    assert entry == {
        "name": "lesson/link1",
        "interface": "eth1",
        "ips": ["10.31.0.11"],
        "mac": "02:00:00:00:00:11",
        "dns": {},
    }


def test_ips_reach_only_a_plugin_that_declares_the_capability(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    """libcni passes runtime arguments only to plugins whose capabilities ask for them."""
    namespace(core, "lesson")
    nad(custom, "lesson", "link1", bridge("link1", "br-l1", ipam={"type": "static"}))
    annotations = selecting(interface="eth1", ips=["10.31.0.11/24"])
    core.create_namespaced_pod("lesson", pod_body("p", annotations=annotations))
    assert "ips" not in network_status(core, "p", "lesson")[1]


def test_missing_definition_waits_until_it_appears(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    namespace(core, "lesson")
    core.create_namespaced_pod("lesson", pod_body("p", annotations={NETWORKS: "link1"}))
    messages = wait_for(
        lambda: sandbox_failures(core, "lesson", "p"), what="FailedCreatePodSandBox"
    )
    assert (
        "cannot find a network-attachment-definition (link1) in namespace (lesson)" in messages[0]
    )
    status = core.read_namespaced_pod("p", "lesson").status
    assert status.phase == "Pending"
    assert status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    nad(custom, "lesson", "link1", bridge("link1", "br-l1"))
    wait_for(
        lambda: core.read_namespaced_pod("p", "lesson").status.phase == "Running", what="running"
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("{not json", "cannot parse config"),
        ({"name": "x", "type": "bridge", "bridge": "br0"}, "missing 'cniVersion'"),
        ({"cniVersion": "0.3.1", "name": "x", "bridge": "br0"}, "missing 'type'"),
        (
            bridge("x", "br-way-too-long-name"),
            'failed to create bridge "br-way-too-long-name": could not add',
        ),
    ],
)
def test_broken_definitions_fail_the_sandbox(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, config: object, expected: str
) -> None:
    namespace(core, "lesson")
    nad(custom, "lesson", "link1", config)
    core.create_namespaced_pod("lesson", pod_body("p", annotations={NETWORKS: "link1"}))
    messages = wait_for(
        lambda: sandbox_failures(core, "lesson", "p"), what="FailedCreatePodSandBox"
    )
    assert expected in messages[0]
    assert core.read_namespaced_pod("p", "lesson").status.phase == "Pending"


LOAD = "Multus: [{pod}]: error loading k8s delegates k8s args: "
ADD = '[{pod}:link1]: error adding container to network "link1": '


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (
            "link1@an-interface-name",
            LOAD + "parsePodNetworkAnnotation: parsePodNetworkObjectName: Failed to parse "
            "interface name: must be less than 15 chars and not contain '/' or spaces. interface "
            "name 'an-interface-name'",
        ),
        (
            json.dumps([{"name": "link1", "interface": "an-interface-name"}]),
            ADD + 'DelegateAdd: cannot set "bridge" interface name to "an-interface-name": '
            "numerical result out of range",
        ),
        (
            "link1@eth0",
            ADD + 'DelegateAdd: cannot set "bridge" interface name to "eth0": validateIfName: '
            "interface name eth0 already exists",
        ),
        (
            "link1@em1, link1@em1",
            ADD + 'DelegateAdd: cannot set "bridge" interface name to "em1": validateIfName: '
            "interface name em1 already exists",
        ),
        (
            json.dumps([{"name": "link1", "ips": ["10.31.0.11"]}]),
            ADD + "an entry in the 'ips' field is NOT in CIDR notation, got: '10.31.0.11'",
        ),
        (
            json.dumps([{"name": "link1", "ips": ["10.31.0.300/24"]}]),
            LOAD + 'failed to parse CIDR "10.31.0.300/24": invalid CIDR address: 10.31.0.300/24',
        ),
    ],
)
def test_what_multus_and_the_plugins_refuse_fails_the_sandbox(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, annotation: str, expected: str
) -> None:
    namespace(core, "lesson")
    nad(custom, "lesson", "link1", static_bridge("link1", "br-l1"))
    core.create_namespaced_pod("lesson", pod_body("p", annotations={NETWORKS: annotation}))
    messages = wait_for(
        lambda: sandbox_failures(core, "lesson", "p"), what="FailedCreatePodSandBox"
    )
    uid = core.read_namespaced_pod("p", "lesson").metadata.uid
    assert messages[0].endswith("failed (add): " + expected.format(pod=f"lesson/p/{uid}"))
    status = core.read_namespaced_pod("p", "lesson").status
    assert status.phase == "Pending"
    assert status.container_statuses[0].state.waiting.reason == "ContainerCreating"


def test_fifteen_character_bridge_is_fine(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    namespace(core, "lesson")
    nad(custom, "lesson", "link1", bridge("link1", "b" * 15))
    core.create_namespaced_pod("lesson", pod_body("p", annotations={NETWORKS: "link1"}))
    wait_for(
        lambda: core.read_namespaced_pod("p", "lesson").status.phase == "Running", what="running"
    )


def test_same_bridge_in_two_namespaces_on_one_node_is_reported(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    on_node_1 = {"kubernetes.io/hostname": "node-1"}
    for ns in ("lesson-a", "lesson-b"):
        namespace(core, ns)
        nad(custom, ns, "link1", bridge("link1", "br-link1"))
        core.create_namespaced_pod(
            ns, pod_body("vqfx1", annotations={NETWORKS: "link1"}, nodeSelector=on_node_1)
        )
        wait_for(
            lambda ns=ns: core.read_namespaced_pod("vqfx1", ns).status.phase == "Running",
            what="running",
        )
    events = core.list_namespaced_event("lesson-b", field_selector="reason=BridgeShared").items
    assert len(events) == 1 and events[0].type == "Warning"
    assert (
        'bridge "br-link1" on node node-1 is also used by '
        "network-attachment-definition lesson-a/link1" in events[0].message
    )
    assert core.list_namespaced_event("lesson-a", field_selector="reason=BridgeShared").items == []


def test_same_bridge_on_different_nodes_is_fine(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    for ns, node in (("lesson-a", "node-1"), ("lesson-b", "node-2")):
        namespace(core, ns)
        nad(custom, ns, "link1", bridge("link1", "br-link1"))
        core.create_namespaced_pod(
            ns,
            pod_body(
                "p", annotations={NETWORKS: "link1"}, nodeSelector={"kubernetes.io/hostname": node}
            ),
        )
        wait_for(
            lambda ns=ns: core.read_namespaced_pod("p", ns).status.phase == "Running",
            what="running",
        )
    assert core.list_event_for_all_namespaces(field_selector="reason=BridgeShared").items == []


def test_without_multus_the_resource_is_absent() -> None:
    with KubeSim(time_scale=FAST, multus=False) as sim:
        custom = client.CustomObjectsApi(api_client(sim))
        with pytest.raises(client.ApiException) as caught:
            custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
        assert caught.value.status == 404
        groups = [g.name for g in client.ApisApi(api_client(sim)).get_api_versions().groups]
        assert GROUP not in groups


def test_definitions_are_served_only_while_the_crd_exists(
    sim: KubeSim, custom: client.CustomObjectsApi
) -> None:
    ext = client.ApiextensionsV1Api(api_client(sim))
    nad(custom, "default", "link1", bridge("link1", "br0"))
    ext.delete_custom_resource_definition(f"{PLURAL}.{GROUP}")

    def gone() -> bool:
        try:
            custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, what="CRD gone")


def test_bridge_bookkeeping_goes_with_the_pods(
    sim: KubeSim, core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    namespace(core, "lesson")
    nad(custom, "lesson", "link1", bridge("link1", "br-l1"))
    core.create_namespaced_pod("lesson", pod_body("p", annotations={NETWORKS: "link1"}))
    network_status(core, "p", "lesson")
    core.delete_namespaced_pod("p", "lesson", grace_period_seconds=0)
    kubelet = next(c for c in sim.cluster.controllers if isinstance(c, Kubelet))
    wait_for(lambda: not kubelet._bridges, what="no bridge left on record")
