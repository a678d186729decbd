"""How long the node agent's pass takes with many tunnels: ``sudo .venv/bin/python -m
tests.dataplane.measure_tunnels [--tunnels 300] [--repeat 5]`` (not a test: it prints times).

A node namespace gets N lesson bridges with two pod veths each (their other ends in a pods
namespace, as on a node), made with ``ip -batch`` rather than the plugin, and an underlay
address. Then, each pass a fresh agent's in the node's namespace, as the DaemonSet runs it:

- first: knobs, tables, N tunnel ports with two peers each and the allow-list, all made;
- idle: the same desired state again, nothing to change (the steady state, every 5 s);
- no file: a pass without a desired state, over the same node (what tunnels add to idle);
- repoint: every tunnel's second peer replaced (2N FDB changes);
- remove: no tunnels desired (N ports deleted, the allow-list table deleted).

Each is the median of `--repeat` rounds (the node built once per round).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from lessons.naming import bridge_name
from nodeagent.agent import Agent, PassResult
from nodeagent.linux import LinuxHost
from nodeagent.tunnels import Tunnel
from tests.dataplane.netns import Namespaces, Netns

LOCAL = "10.99.0.1"


def build(spaces: Namespaces, count: int) -> tuple[Netns, list[str]]:
    node = spaces.new("node")
    pods = spaces.new("pods")
    node.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul1", "netns", pods.name)
    node.ip("address", "add", f"{LOCAL}/16", "dev", "ul0")
    node.ip("link", "set", "ul0", "up")
    bridges = [bridge_name(f"measure-{n}", 0) for n in range(count)]
    lines = []
    for number, bridge in enumerate(bridges):
        lines.append(f"link add {bridge} type bridge")
        lines.append(f"link set {bridge} up")
        for end in "ab":
            veth = f"v{number}{end}"
            lines.append(f"link add {veth} type veth peer name p{number}{end} netns {pods.name}")
            lines.append(f"link set {veth} master {bridge} up")
    node.exec(["ip", "-batch", "-"], "".join(f"{line}\n" for line in lines))
    return node, bridges


def desired(bridges: list[str], second: int) -> list[Tunnel]:
    return [
        Tunnel(
            bridge,
            10000 + number,
            LOCAL,
            frozenset({f"10.99.1.{number % 250 + 1}", f"10.99.{second}.{number % 250 + 1}"}),
            1450,
        )
        for number, bridge in enumerate(bridges)
    ]


def timed(node: Netns, run: Callable[[], PassResult]) -> tuple[float, PassResult]:
    def inside() -> tuple[float, PassResult]:
        start = time.perf_counter()
        result = run()
        return time.perf_counter() - start, result

    seconds, result = node.call(inside)
    assert not result.errors, result.errors
    return seconds, result


def round_(count: int) -> dict[str, float]:
    spaces = Namespaces()
    try:
        node, bridges = build(spaces, count)
        first, second, moved = desired(bridges, 2), desired(bridges, 2), desired(bridges, 3)

        def fresh(tunnels: list[Tunnel]) -> Callable[[], PassResult]:
            return lambda: Agent(LinuxHost(), grace=300).run_pass(tunnels)

        times = {}
        times["first"], result = timed(node, fresh(first))
        assert len(result.tunnel_changes) == count and result.allowlist_loaded
        agent = Agent(LinuxHost(), grace=300)
        timed(node, lambda: agent.run_pass(second))  # loads its tables, adopts the tunnels
        times["idle"], result = timed(node, lambda: agent.run_pass(second))
        assert not result.did_something, result
        times["no file"], result = timed(node, lambda: agent.run_pass(None))
        assert not result.did_something, result
        times["repoint"], result = timed(node, lambda: agent.run_pass(moved))
        assert len(result.tunnel_changes) == 2 * count
        times["remove"], result = timed(node, lambda: agent.run_pass([]))
        assert len(result.tunnel_changes) == count
        return times
    finally:
        spaces.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tunnels", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rounds = [round_(args.tunnels) for _ in range(args.repeat)]
    print(f"{args.tunnels} lesson bridges, 2 ports each, {args.tunnels} tunnels of 2 peers")
    for name in rounds[0]:
        values = [r[name] * 1000 for r in rounds]
        print(
            f"{name:8} median {statistics.median(values):6.0f} ms "
            f"(min {min(values):.0f}, max {max(values):.0f})"
        )


if __name__ == "__main__":
    main()
