"""Teardown on a node: the plugins' DEL takes every interface away but leaves the bridges, which
the node agent deletes once empty for its grace period, and only those."""

from __future__ import annotations

import time
from pathlib import Path

from tests.dataplane.lab import CLUSTER_BRIDGE, Lab
from tests.dataplane.netns import ping

GRACE = "1"


def agent_until_gone(lab: Lab, bridges: set[str], state: Path) -> None:
    """Node agent passes until none of `bridges` is left (up to 20 s)."""
    deadline = time.monotonic() + 20
    while bridges & set(lab.lesson_bridges()):
        assert time.monotonic() < deadline, f"still there: {bridges & set(lab.lesson_bridges())}"
        time.sleep(0.2)
        lab.agent("--grace", GRACE, "--state", str(state))


def test_del_leaves_empty_bridges_that_the_agent_deletes_after_its_grace(
    lab: Lab, tmp_path: Path
) -> None:
    state = tmp_path / "agent-state.json"
    first = lab.plans["s1"].namespace
    by_session = {
        session: {link.bridge for link in lab.links if link.session == session}
        for session in lab.plans
    }
    for pod in [p for p in lab.pods if p.namespace == first]:
        lab.detach(pod)
        assert set(pod.netns.links()) == {"lo"}, pod.name
    # The plugin deleted the node's ends of the veths, not the bridges.
    ports = {n: link.get("master") for n, link in lab.node.links().items() if "master" in link}
    assert not by_session["s1"] & set(ports.values())
    assert by_session["s1"] <= set(lab.lesson_bridges())

    lab.agent("--grace", GRACE, "--state", str(state))
    assert by_session["s1"] <= set(lab.lesson_bridges())  # first seen empty: kept for now
    agent_until_gone(lab, by_session["s1"], state)
    # The other session's bridges have ports: kept, and its links still work.
    assert set(lab.lesson_bridges()) == by_session["s2"]
    for link in [link for link in lab.links if link.session == "s2"]:
        end = link.ends[0]
        assert ping(end.pod.netns, link.addresses[1], end.interface), link.network

    for pod in [p for p in lab.pods if p.namespace != first]:
        lab.detach(pod)
    assert not [name for name, link in lab.node.links().items() if "master" in link]
    agent_until_gone(lab, by_session["s2"], state)
    # Nothing of lessonq's is left on the node; the cluster network's bridge is not lessonq's.
    assert set(lab.node.links()) == {"lo", CLUSTER_BRIDGE}
