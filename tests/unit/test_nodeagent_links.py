"""The node agent's reading of the cluster: which of its links cross nodes, and which pods wait."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lessons.manifests import LINKS_WIRED, NAD_API_VERSION, NETWORKS_ANNOTATION, VNI_ANNOTATION
from lessons.naming import MANAGED
from nodeagent.cli import main
from nodeagent.cluster import ClusterLinks
from nodeagent.links import attachments, internal_ips, overlay_link, waits_on_gate, wanted
from nodeagent.tunnels import Tunnel
from tests.fakes.kube import FakeKube

IPS = {"node-1": "10.0.0.1", "node-2": "10.0.0.2", "node-3": "10.0.0.3"}


def nad(name: str, vni: int | None, bridge: str, mtu: int | None = 1450) -> dict[str, Any]:
    config = {"cniVersion": "0.3.1", "type": "bridge", "bridge": bridge}
    if mtu is not None:
        config["mtu"] = mtu
    annotations = {VNI_ANNOTATION: str(vni)} if vni is not None else {}
    return {
        "metadata": {"name": name, "namespace": "lesson", "annotations": annotations},
        "spec": {"config": json.dumps(config)},
    }


def pod(name: str, node: str | None, *links: str, gated: bool = True, wired: bool = False) -> Any:
    networks = json.dumps([{"name": link, "interface": f"net{i}"} for i, link in enumerate(links)])
    spec: dict[str, Any] = {"readinessGates": [{"conditionType": LINKS_WIRED}]} if gated else {}
    if node is not None:
        spec["nodeName"] = node
    conditions = [{"type": LINKS_WIRED, "status": "True"}] if wired else []
    return {
        "metadata": {
            "name": name,
            "namespace": "lesson",
            "annotations": {NETWORKS_ANNOTATION: networks},
        },
        "spec": spec,
        "status": {"conditions": conditions},
    }


NADS = [nad("a-b", 5001, "lqaaaa"), nad("b-c", 5002, "lqbbbb"), nad("local", None, "lqcccc")]


def test_a_link_with_ends_on_two_nodes_is_a_tunnel_on_each_and_one_within_a_node_is_none() -> None:
    pods = [pod("a", "node-1", "a-b"), pod("b", "node-2", "a-b", "b-c"), pod("c", "node-2", "b-c")]

    here = wanted("node-1", "10.0.0.1", pods, NADS, IPS)
    there = wanted("node-2", "10.0.0.2", pods, NADS, IPS)

    assert here.tunnels == [Tunnel("lqaaaa", 5001, "10.0.0.1", frozenset({"10.0.0.2"}), 1450)]
    assert there.tunnels == [Tunnel("lqaaaa", 5001, "10.0.0.2", frozenset({"10.0.0.1"}), 1450)]
    assert here.gated == {("lesson", "a"): frozenset({("lesson", "a-b")})}
    assert set(there.gated) == {("lesson", "b"), ("lesson", "c")}
    assert here.unknown == there.unknown == frozenset()


def test_a_link_whose_other_end_is_not_bound_yet_is_unknown_and_its_pods_wait() -> None:
    pods = [pod("a", "node-1", "a-b"), pod("b", None, "a-b")]

    here = wanted("node-1", "10.0.0.1", pods, NADS, IPS)

    assert here.tunnels == [] and here.unknown == {("lesson", "a-b")}


def test_a_link_on_three_nodes_replicates_to_both_peers() -> None:
    pods = [pod(n, f"node-{i}", "a-b") for i, n in enumerate("xyz", start=1)]

    [tunnel] = wanted("node-2", "10.0.0.2", pods, NADS, IPS).tunnels

    assert tunnel.peers == {"10.0.0.1", "10.0.0.3"}


def test_pods_going_wired_or_without_the_gate_wait_for_nothing() -> None:
    going = pod("a", "node-1", "a-b")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pods = [going, pod("b", "node-1", "a-b", wired=True), pod("c", "node-1", "a-b", gated=False)]

    assert wanted("node-1", "10.0.0.1", pods, NADS, IPS).gated == {}
    assert not waits_on_gate(pods[1]) and not waits_on_gate(pods[2])


def test_what_cannot_be_read_is_left_out() -> None:
    broken = pod("a", "node-1", "a-b")
    broken["metadata"]["annotations"][NETWORKS_ANNOTATION] = "not json"
    assert attachments(broken) == []
    assert overlay_link(nad("x", 7, "lqx", mtu=None)) is not None
    assert overlay_link({"metadata": {"annotations": {VNI_ANNOTATION: "x"}}, "spec": {}}) is None
    assert (
        internal_ips(
            [
                {
                    "metadata": {"name": "n"},
                    "status": {"addresses": [{"type": "Hostname", "address": "n"}]},
                }
            ]
        )
        == {}
    )


def test_the_cluster_side_reads_the_links_and_gates_only_pods_whose_links_are_all_known() -> None:
    kube = FakeKube()
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lesson"}})
    for name, address in IPS.items():
        status = {"addresses": [{"type": "InternalIP", "address": address}]}
        kube.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": status})
    for found in copy.deepcopy(NADS):
        found["metadata"]["labels"] = {MANAGED: "true"}
        kube.put({"apiVersion": NAD_API_VERSION, "kind": "NetworkAttachmentDefinition", **found})
    for made in [
        pod("a", "node-1", "a-b"),
        pod("b", "node-2", "a-b", "b-c"),
        pod("c", None, "b-c"),
    ]:
        made["metadata"]["labels"] = {MANAGED: "true"}
        kube.put({"apiVersion": "v1", "kind": "Pod", **made})

    links = ClusterLinks(kube, "node-2")
    found = links.read()

    assert [t.bridge for t in found.tunnels] == ["lqaaaa"] and found.unknown == {("lesson", "b-c")}
    assert links.mark_wired(found, []) == []  # b waits for c, not yet bound
    here = ClusterLinks(kube, "node-1")
    assert here.mark_wired(here.read(), ["lqaaaa"]) == []  # its bridge is not on the node yet
    assert here.mark_wired(here.read(), []) == [("lesson", "a")]
    conditions = kube.objects[("Pod", "lesson", "a")]["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in conditions] == [(LINKS_WIRED, "True")]
    with pytest.raises(LookupError, match="node node-9 has no InternalIP"):
        ClusterLinks(kube, "node-9").read()


def test_the_cluster_side_needs_the_nodes_name_and_no_tunnels_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)
    for argv in (
        ["--once", "--overlay"],
        ["--once", "--overlay", "--node-name", "n", "--tunnels", "f"],
    ):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        assert (
            "--overlay needs --node-name (or NODE_NAME), and no --tunnels"
            in capsys.readouterr().err
        )
