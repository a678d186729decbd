"""The node agent's parts that need no node: parsing iproute2's output, the nftables script, the
command line and its probe, and `lessonq node-agent` handing over to it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nodeagent import cli as agent_cli
from nodeagent.bridges import BRIDGE_PREFIX, lesson_bridges, parse_links
from nodeagent.host import Link
from nodeagent.knobs import BRIDGE_MASK, PORT_MASK, changes
from nodeagent.linux import _ip_line
from nodeagent.rules import FAMILIES, TABLE, ruleset
from scheduler import cli
from tests.fakes.clock import FakeClock

# Recorded on a network namespace where the real bridge plugin had wired one pod to a lesson
# bridge (whose group_fwd_mask was then set to LLDP alone) and to the cluster network's cni0
# (trimmed to the fields the agent reads, and a few more).
LINKS = """[
 {"ifindex": 1, "ifname": "lo", "operstate": "DOWN", "inet6_addr_gen_mode": "eui64"},
 {"ifindex": 2, "ifname": "lqabcdefghijklm", "operstate": "UP", "linkinfo": {"info_kind":
  "bridge", "info_data": {"stp_state": 0, "group_fwd_mask": "0x4000"}},
  "inet6_addr_gen_mode": "eui64"},
 {"ifindex": 3, "link_index": 2, "ifname": "veth7d962add", "master": "lqabcdefghijklm",
  "operstate": "UP", "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge",
  "info_slave_data": {"state": "forwarding", "group_fwd_mask": "0", "group_fwd_mask_str":
  "0x0"}}, "inet6_addr_gen_mode": "eui64"},
 {"ifindex": 4, "ifname": "cni0", "operstate": "UP", "linkinfo": {"info_kind": "bridge",
  "info_data": {"stp_state": 0, "group_fwd_mask": "0"}}, "inet6_addr_gen_mode": "eui64"},
 {"ifindex": 5, "link_index": 3, "ifname": "vethebf181f3", "master": "cni0", "operstate": "UP",
  "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge", "info_slave_data": {"state":
  "forwarding", "group_fwd_mask": "0", "group_fwd_mask_str": "0x0"}},
  "inet6_addr_gen_mode": "eui64"}
]"""
ADDRESSES = """[
 {"ifindex": 1, "ifname": "lo", "addr_info": []},
 {"ifindex": 2, "ifname": "lqabcdefghijklm", "addr_info": [{"family": "inet6", "local":
  "fe80::9c64:d3ff:fef5:9c05", "prefixlen": 64, "scope": "link"}]},
 {"ifindex": 3, "ifname": "veth7d962add", "addr_info": [{"family": "inet6", "local":
  "fe80::e8a8:a7ff:fea0:2097", "prefixlen": 64, "scope": "link"}]},
 {"ifindex": 4, "ifname": "cni0", "addr_info": [{"family": "inet", "local": "10.244.0.1",
  "prefixlen": 24, "scope": "global"}, {"family": "inet6", "local": "fe80::bce5:beff:fe38:cb88",
  "prefixlen": 64, "scope": "link"}]},
 {"ifindex": 5, "ifname": "vethebf181f3", "addr_info": [{"family": "inet6", "local":
  "fe80::e4c9:25ff:fe76:a259", "prefixlen": 64, "scope": "link"}]}
]"""


def test_iproute2s_output_is_read_into_links() -> None:
    links = {link.name: link for link in parse_links(LINKS, ADDRESSES)}
    assert links["lqabcdefghijklm"] == Link(
        name="lqabcdefghijklm",
        index=2,
        kind="bridge",
        bridge_mask=0x4000,
        addr_gen_mode="eui64",
        addresses=("fe80::9c64:d3ff:fef5:9c05",),
    )
    assert links["veth7d962add"].master == "lqabcdefghijklm"
    assert links["veth7d962add"].port_mask == 0 and links["veth7d962add"].bridge_mask is None
    assert links["cni0"].addresses == ("10.244.0.1", "fe80::bce5:beff:fe38:cb88")
    assert links["lo"].kind is None and links["lo"].port_mask is None


def test_only_bridges_with_lessonqs_prefix_are_lesson_bridges() -> None:
    (bridge,) = lesson_bridges(parse_links(LINKS, ADDRESSES))
    assert bridge.name == "lqabcdefghijklm" and BRIDGE_PREFIX == "lq"
    assert [port.name for port in bridge.ports] == ["veth7d962add"]
    # What the recorded node needs: all but LLDP was missing, and the link-local address.
    assert [_ip_line(change) for change in changes(bridge)] == [
        f"link set dev lqabcdefghijklm type bridge group_fwd_mask {BRIDGE_MASK:#x}",
        f"link set dev veth7d962add type bridge_slave group_fwd_mask {PORT_MASK:#x}",
        "link set dev lqabcdefghijklm addrgenmode none",
        "address flush dev lqabcdefghijklm",
    ]


def test_a_link_in_one_listing_and_not_the_other_has_no_addresses() -> None:
    # Made between the two commands.
    (link,) = parse_links('[{"ifindex": 9, "ifname": "lqnew"}]', "[]")
    assert link.addresses == () and link.kind is None


def test_the_tables_match_lesson_bridges_by_the_prefix_and_nothing_else() -> None:
    script = ruleset("lq")
    assert script.count('"lq*"') == 5 and script.count("*") == 5
    lines = script.splitlines()
    for family in FAMILIES:
        # Created, deleted and created again: one transaction, whether they existed or not.
        at = lines.index(f"table {family} {TABLE}")
        assert lines[at + 1 : at + 3] == [
            f"delete table {family} {TABLE}",
            f"table {family} {TABLE} {{",
        ]
    assert 'iifname "lq*" notrack' in script
    assert script.count('iifname "lq*" drop') == 2 and script.count('oifname "lq*" drop') == 2
    assert "priority raw" in script  # before conntrack (-200)


@pytest.mark.parametrize("prefix", ["", "lq*", 'lq"', "LQ", "lq x"])
def test_a_prefix_that_would_not_be_a_plain_nft_string_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="bridge prefix"):
        ruleset(prefix)


def test_the_probe_passes_only_on_a_recent_heartbeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heartbeat = tmp_path / "alive"
    clock = FakeClock(start=1_800_000_000.0)
    assert agent_cli.probe(heartbeat, 60, clock) == 1
    assert "no heartbeat" in capsys.readouterr().err
    heartbeat.touch()
    os.utime(heartbeat, (clock.now() - 30, clock.now() - 30))
    assert agent_cli.probe(heartbeat, 60, clock) == 0
    clock.advance(31)
    assert agent_cli.probe(heartbeat, 60, clock) == 1
    assert "last clean pass 61s ago" in capsys.readouterr().err


def test_the_probe_command_needs_the_heartbeat_file(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        agent_cli.main(["--probe", "60"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        agent_cli.main(["--probe", "60", "--heartbeat", str(tmp_path / "none")])
    assert exited.value.code == 1


@pytest.mark.parametrize(
    "args", [["--grace", "-1"], ["--interval", "0"], ["--interval", "nan"], ["--grace", "x"]]
)
def test_the_agent_refuses_durations_that_make_no_sense(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        agent_cli.build_parser().parse_args(args)
    assert exited.value.code == 2


def test_lessonq_node_agent_becomes_python_m_nodeagent_with_every_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    became = []

    def execv(path: str, argv: list[str]) -> None:
        became.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", execv)
    with pytest.raises(SystemExit):
        cli.main(["node-agent", "--once", "--grace", "30", "--help"])
    assert became == [[sys.executable, "-m", "nodeagent", "--once", "--grace", "30", "--help"]]
