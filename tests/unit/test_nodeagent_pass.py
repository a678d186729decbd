"""The node agent's pass over a node in memory: what it changes, what it never touches, when it
deletes, and how it carries on past failures."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from lessons.naming import bridge_name
from nodeagent.agent import Agent, one_pass, run
from nodeagent.bridges import BRIDGE_PREFIX
from nodeagent.host import FlushAddresses, SetBridgeMask, SetPortMask, StopAddressGeneration
from nodeagent.knobs import BRIDGE_MASK, LACP, LLDP, PAE_8021X, PORT_MASK
from tests.fakes.clock import FakeClock
from tests.unit.fake_node import FakeNode

GRACE = 300.0
LESSON = bridge_name("snapshot-testing-s1-abcdefghij", 0)
OTHER_LESSON = bridge_name("snapshot-testing-s2-abcdefghij", 1)


@pytest.fixture
def node() -> FakeNode:
    node = FakeNode()
    node.add("lo", None)
    node.bridge(LESSON, "veth-a", "veth-b")
    node.bridge(OTHER_LESSON, "veth-c")
    # Not lessonq's: the cluster network's bridge and Docker's, with a port each.
    node.bridge("cni0", "veth-pod")
    node.bridge("docker0", "veth-ctr")
    return node


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def agent(node: FakeNode, clock: FakeClock, state: Path | None = None) -> Agent:
    return Agent(node, grace=GRACE, state=state, clock=clock)


def test_lessonqs_bridges_are_named_with_the_prefix_the_agent_looks_for() -> None:
    assert LESSON.startswith(BRIDGE_PREFIX) and OTHER_LESSON.startswith(BRIDGE_PREFIX)


def test_a_pass_makes_lesson_bridges_and_their_ports_carry_link_local_frames(
    node: FakeNode, clock: FakeClock
) -> None:
    result = agent(node, clock).run_pass()
    assert not result.errors and result.bridges == 2
    for name in (LESSON, OTHER_LESSON):
        assert node.interfaces[name].bridge_mask == BRIDGE_MASK
    for port in ("veth-a", "veth-b", "veth-c"):
        assert node.interfaces[port].port_mask == PORT_MASK
    # LLDP and 802.1X by the bridge's mask, LACP (refused on a bridge) by the ports'.
    assert BRIDGE_MASK & (1 << LLDP) and BRIDGE_MASK & (1 << PAE_8021X)
    assert not BRIDGE_MASK & (1 << LACP) and PORT_MASK & (1 << LACP)


def test_a_pass_takes_every_address_off_lesson_bridges(node: FakeNode, clock: FakeClock) -> None:
    agent(node, clock).run_pass()
    for name in (LESSON, OTHER_LESSON):
        bridge = node.interfaces[name]
        assert bridge.addresses == () and bridge.addr_gen_mode == "none"


def test_a_pass_never_touches_interfaces_that_are_not_lessonqs(
    node: FakeNode, clock: FakeClock
) -> None:
    before = {name: node.interfaces[name] for name in ("lo", "cni0", "veth-pod", "docker0")}
    agent(node, clock).run_pass()
    touched = {next(iter(vars(change).values())) for change in node.applied}
    assert touched == {LESSON, OTHER_LESSON, "veth-a", "veth-b", "veth-c"}
    assert {name: node.interfaces[name] for name in before} == before


def test_a_second_pass_changes_nothing_and_keeps_the_tables(
    node: FakeNode, clock: FakeClock
) -> None:
    the_agent = agent(node, clock)
    first = the_agent.run_pass()
    assert first.rules_loaded and node.loads == 1
    second = the_agent.run_pass()
    assert second.changes == [] and not second.rules_loaded and node.loads == 1
    assert not second.did_something


def test_tables_someone_flushed_or_edited_are_loaded_again(
    node: FakeNode, clock: FakeClock
) -> None:
    the_agent = agent(node, clock)
    the_agent.run_pass()
    script = node.tables
    node.tables = ""  # nft flush ruleset
    assert the_agent.run_pass().rules_loaded and node.tables == script
    node.tables = script.replace("drop", "accept")
    assert the_agent.run_pass().rules_loaded and node.tables == script
    assert node.loads == 3


def test_a_port_that_joins_later_gets_its_mask_on_the_next_pass(
    node: FakeNode, clock: FakeClock
) -> None:
    the_agent = agent(node, clock)
    the_agent.run_pass()
    node.add("veth-new", "veth", master=OTHER_LESSON)
    assert the_agent.run_pass().changes == [SetPortMask("veth-new", PORT_MASK)]


def test_a_node_without_ipv6_gets_no_ipv6_changes(clock: FakeClock) -> None:
    node = FakeNode(ipv6=False)
    node.bridge(LESSON, "veth-a")
    result = agent(node, clock).run_pass()
    assert not result.errors
    assert result.changes == [
        SetBridgeMask(LESSON, BRIDGE_MASK),
        SetPortMask("veth-a", PORT_MASK),
    ]


def test_an_address_that_came_back_is_flushed_again(node: FakeNode, clock: FakeClock) -> None:
    the_agent = agent(node, clock)
    the_agent.run_pass()
    node._set(LESSON, addresses=("fe80::2",))
    assert the_agent.run_pass().changes == [FlushAddresses(LESSON)]


# --- cleanup ------------------------------------------------------------------------------


def test_an_empty_lesson_bridge_is_deleted_once_empty_for_the_grace_period(
    clock: FakeClock,
) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    node.bridge("cni0")  # empty too, but not lessonq's
    the_agent = agent(node, clock)
    assert the_agent.run_pass().deleted == []
    clock.advance(GRACE - 1)
    assert the_agent.run_pass().deleted == []
    clock.advance(1)
    assert the_agent.run_pass().deleted == [LESSON]
    assert set(node.interfaces) == {"cni0"} and node.deleted == [LESSON]
    clock.advance(10 * GRACE)
    assert the_agent.run_pass().deleted == []


def test_a_bridge_with_ports_is_never_deleted(node: FakeNode, clock: FakeClock) -> None:
    the_agent = agent(node, clock)
    for _ in range(3):
        assert the_agent.run_pass().deleted == []
        clock.advance(GRACE)
    assert node.deleted == []


def test_a_bridge_that_gets_a_port_again_starts_its_clock_afresh(clock: FakeClock) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    the_agent = agent(node, clock)
    the_agent.run_pass()
    clock.advance(GRACE - 1)
    node.add("veth-a", "veth", master=LESSON)
    the_agent.run_pass()
    node.remove("veth-a")
    clock.advance(GRACE - 1)
    assert the_agent.run_pass().deleted == []  # empty again for 0 s, not 2 * GRACE - 2
    clock.advance(GRACE)
    assert the_agent.run_pass().deleted == [LESSON]


def test_a_bridge_made_again_under_the_same_name_starts_its_clock_afresh(
    clock: FakeClock,
) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    the_agent = agent(node, clock)
    the_agent.run_pass()
    clock.advance(GRACE - 1)
    node.remove(LESSON)
    node.bridge(LESSON)  # another interface index
    clock.advance(1)
    assert the_agent.run_pass().deleted == []
    clock.advance(GRACE)
    assert the_agent.run_pass().deleted == [LESSON]


def test_a_bridge_that_a_pod_joins_while_the_pass_runs_is_kept(clock: FakeClock) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    the_agent = agent(node, clock)
    the_agent.run_pass()
    clock.advance(GRACE)
    # The pass's discovery sees it empty; a pod's ADD attaches its veth before the delete.
    node.after_links.append(lambda: node.add("veth-a", "veth", master=LESSON))
    assert the_agent.run_pass().deleted == []
    assert LESSON in node.interfaces


def test_a_bridge_deleted_by_someone_else_meanwhile_is_no_error(clock: FakeClock) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    the_agent = agent(node, clock)
    the_agent.run_pass()
    clock.advance(GRACE)
    node.after_links.append(lambda: node.remove(LESSON))
    result = the_agent.run_pass()
    assert result.deleted == [] and not result.errors


def test_the_state_file_keeps_the_clocks_across_restarts(tmp_path: Path, clock: FakeClock) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    state = tmp_path / "state.json"
    agent(node, clock, state).run_pass()
    assert set(json.loads(state.read_text())) == {LESSON}
    clock.advance(GRACE)
    # A new process (a restarted agent, the next --once run) deletes on its first pass.
    assert agent(node, clock, state).run_pass().deleted == [LESSON]
    assert json.loads(state.read_text()) == {}


def test_without_a_state_file_a_restart_waits_a_whole_grace_period(clock: FakeClock) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    agent(node, clock).run_pass()
    clock.advance(GRACE)
    restarted = agent(node, clock)
    assert restarted.run_pass().deleted == []
    clock.advance(GRACE)
    assert restarted.run_pass().deleted == [LESSON]


def test_an_unreadable_state_file_is_reported_and_every_clock_starts_again(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    state = tmp_path / "state.json"
    state.write_text("{not json")
    the_agent = agent(node, clock, state)
    assert "state file" in caplog.text
    assert the_agent.run_pass().deleted == []
    clock.advance(GRACE)
    assert the_agent.run_pass().deleted == [LESSON]


def test_grace_zero_deletes_on_first_sight(clock: FakeClock) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    assert Agent(node, grace=0, clock=clock).run_pass().deleted == [LESSON]


# --- failures -----------------------------------------------------------------------------


def test_a_change_that_fails_is_reported_and_the_others_are_made(
    node: FakeNode, clock: FakeClock
) -> None:
    node.broken.add("veth-a")
    result = agent(node, clock).run_pass()
    assert [error.split(":")[0] for error in result.errors] == ["knobs"]
    assert "veth-a" in result.errors[0]
    assert node.interfaces["veth-b"].port_mask == PORT_MASK
    assert node.interfaces[LESSON].bridge_mask == BRIDGE_MASK


def test_tables_that_cannot_be_loaded_do_not_stop_the_rest_of_the_pass(
    node: FakeNode, clock: FakeClock
) -> None:
    node.broken.add("nft")
    result = agent(node, clock).run_pass()
    assert [error.split(":")[0] for error in result.errors] == ["nftables"]
    assert node.interfaces[LESSON].bridge_mask == BRIDGE_MASK


def test_a_failed_discovery_changes_nothing(node: FakeNode, clock: FakeClock) -> None:
    node.links_fail = True
    result = agent(node, clock).run_pass()
    assert result.errors == ["discovery: ip: not found"] and node.applied == []


def test_a_bridge_that_cannot_be_deleted_is_reported_and_tried_again(clock: FakeClock) -> None:
    node = FakeNode()
    node.bridge(LESSON)
    the_agent = agent(node, clock)
    the_agent.run_pass()
    clock.advance(GRACE)
    node.broken.add(LESSON)
    result = the_agent.run_pass()
    assert result.deleted == [] and result.errors[0].startswith("cleanup:")
    node.broken.clear()
    assert the_agent.run_pass().deleted == [LESSON]


def test_the_heartbeat_is_touched_only_after_a_pass_without_errors(
    tmp_path: Path, node: FakeNode, clock: FakeClock
) -> None:
    heartbeat = tmp_path / "alive"
    the_agent = agent(node, clock)
    node.links_fail = True
    one_pass(the_agent, heartbeat)
    assert not heartbeat.exists()
    node.links_fail = False
    one_pass(the_agent, heartbeat)
    assert heartbeat.exists()


def test_passes_are_logged_when_they_do_something(
    node: FakeNode, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    the_agent = agent(node, clock)
    with caplog.at_level(logging.INFO, "lessonq.nodeagent"):
        one_pass(the_agent, None)
        one_pass(the_agent, None)  # nothing to do: not a line every few seconds
        node.broken.add("nft")
        node.tables = ""
        one_pass(the_agent, None)
    levels = [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records]
    assert levels == [
        ("INFO", "pass over 2 lesson bridges"),
        ("WARNING", "pass over 2 lesson bridges"),
    ]
    assert caplog.records[0].lessonq["changes"] == 9  # type: ignore[attr-defined]


def test_the_loop_runs_passes_until_told_to_stop(node: FakeNode, clock: FakeClock) -> None:
    stop = threading.Event()
    # Each pass looks at the links once; the third sets the stop.
    node.after_links += [lambda: None, lambda: None, stop.set]
    run(agent(node, clock), 0.001, stop, None)
    assert node.after_links == []
    node.after_links.append(lambda: None)
    run(agent(node, clock), 0.001, stop, None)  # stopped already: no pass
    assert len(node.after_links) == 1


def test_stop_address_generation_comes_before_the_flush(node: FakeNode, clock: FakeClock) -> None:
    # Flushed first, a link-local address could be made again before generation stops.
    changes = agent(node, clock).run_pass().changes
    kinds = [type(c) for c in changes if isinstance(c, StopAddressGeneration | FlushAddresses)]
    assert kinds == [StopAddressGeneration, FlushAddresses] * 2


def test_the_state_file_is_written_only_when_a_clock_changed(
    tmp_path: Path, node: FakeNode, clock: FakeClock
) -> None:
    state = tmp_path / "state.json"
    node.bridge("lqempty")
    the_agent = agent(node, clock, state)
    the_agent.run_pass()
    inode = state.stat().st_ino  # every write replaces the file: a new inode
    clock.advance(1)
    the_agent.run_pass()
    assert state.stat().st_ino == inode
    node.remove("lqempty")
    the_agent.run_pass()
    assert state.stat().st_ino != inode and json.loads(state.read_text()) == {}
