"""One pass of the node agent over its host, and the loop of passes.

A pass: the nftables tables first (they protect every lesson bridge, new ones included), then
discovery, the knobs of every lesson bridge and port that needs them, the tunnels when the pass
is given a desired state (``tunnels``: its allow-list first, then the ports), and last the
deletion of bridges empty for the grace period. A failure in one part is reported and the pass
goes on with the others; the next pass tries again, as every part only does what is still
missing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol

from config.clock import SYSTEM_CLOCK, Clock
from config.logs import EXTRA_KEY
from nodeagent import allowlist, knobs, tunnels
from nodeagent.bridges import BRIDGE_PREFIX, lesson_bridges
from nodeagent.cleanup import EmptyBridges, delete_empty
from nodeagent.host import Change, Host, HostError, Link
from nodeagent.links import Key, Wanted
from nodeagent.rules import Rules
from nodeagent.tunnels import Tunnel, TunnelChange, TunnelHost

log = logging.getLogger("lessonq.nodeagent")


@dataclasses.dataclass
class PassResult:
    bridges: int = 0
    rules_loaded: bool = False
    changes: list[Change] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    # The desired tunnels (None: the pass had no desired state, and left tunnels alone).
    tunnels: int | None = None
    allowlist_loaded: bool = False
    tunnel_changes: list[TunnelChange] = dataclasses.field(default_factory=list)
    # Pods whose links-wired gate the pass set (with the cluster as its source).
    wired: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # Bridges of desired tunnels not on the node (yet).
    waiting: list[str] = dataclasses.field(default_factory=list)

    @property
    def did_something(self) -> bool:
        return (
            self.rules_loaded
            or self.allowlist_loaded
            or bool(
                self.changes or self.deleted or self.errors or self.tunnel_changes or self.wired
            )
        )


class Agent:
    def __init__(
        self,
        host: Host,
        *,
        grace: float,
        state: Path | None = None,
        prefix: str = BRIDGE_PREFIX,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.host = host
        self.grace = grace
        self.prefix = prefix
        self.clock = clock
        self.rules = Rules(prefix)
        self.allowlist = allowlist.AllowList()
        self.empty = EmptyBridges(state)

    def run_pass(self, desired: Sequence[Tunnel] | None = None) -> PassResult:
        """One pass; with `desired` (every tunnel this node should have, [] for none), the
        node's tunnels made to match it; without, tunnels are left as they are."""
        result = PassResult()
        try:
            result.rules_loaded = self.rules.ensure(self.host)
        except HostError as error:
            result.errors.append(f"nftables: {error}")
        try:
            links = self.host.links()
            bridges = lesson_bridges(links, self.prefix)
        except HostError as error:
            result.errors.append(f"discovery: {error}")
            return result
        result.bridges = len(bridges)
        result.changes = [change for bridge in bridges for change in knobs.changes(bridge)]
        if result.changes:
            try:
                self.host.apply(result.changes)
            except HostError as error:
                result.errors.append(f"knobs: {error}")
        if desired is not None:
            self._tunnels(result, links, desired)
        due = self.empty.due(bridges, self.clock.now(), self.grace)
        if due:
            try:
                result.deleted = delete_empty(self.host, due, self.prefix)
            except HostError as error:
                result.errors.append(f"cleanup: {error}")
            for name in result.deleted:
                self.empty.forget(name)
        try:
            self.empty.save()
        except OSError as error:
            result.errors.append(f"state file: {error}")
        return result

    def _tunnels(self, result: PassResult, links: list[Link], desired: Sequence[Tunnel]) -> None:
        """What takes tunnels away first, then the allow-list, then what adds to them: a port
        never takes VXLAN from a peer the table does not know, and the table stops dropping a
        stranger's VXLAN for a VNI only once its port is gone. When the allow-list cannot be
        loaded, nothing is added."""
        host = self.host
        if not isinstance(host, TunnelHost):
            result.errors.append("tunnels: this host cannot make tunnels")
            return
        try:
            wanted = tunnels.check(desired, self.prefix)
        except ValueError as error:
            result.errors.append(f"tunnels: {error}")
            return
        result.tunnels = len(wanted)
        try:
            ours = [link.name for link in links if tunnels.is_tunnel_port(link, self.prefix)]
            peers = host.tunnel_peers(ours) if ours else {}
        except HostError as error:
            result.errors.append(f"tunnels: {error}")
            return
        planned = tunnels.plan(wanted, links, peers, self.prefix)
        result.waiting = planned.waiting
        still_there: frozenset[int] = frozenset()
        if planned.removals:
            result.tunnel_changes += planned.removals
            try:
                host.apply_tunnels(planned.removals)
            except HostError as error:
                result.errors.append(f"tunnels: {error}")
                still_there = planned.present_vnis  # some may not be gone
        try:
            script = allowlist.script(wanted, still_there)
            result.allowlist_loaded = self.allowlist.ensure(host, script)
        except HostError as error:
            result.errors.append(f"allow-list: {error}")
            return
        if planned.additions:
            result.tunnel_changes += planned.additions
            try:
                host.apply_tunnels(planned.additions)
            except HostError as error:
                result.errors.append(f"tunnels: {error}")


def report(result: PassResult) -> None:
    """One log line for a pass that did something (WARNING when something failed)."""
    fields = {
        "bridges": result.bridges,
        "rules_loaded": result.rules_loaded,
        "changes": len(result.changes),
        "deleted": result.deleted,
        "errors": result.errors,
    }
    if result.wired:
        fields["wired"] = [f"{namespace}/{name}" for namespace, name in result.wired]
    tunnel_text = ""
    if result.tunnels is not None:
        fields.update(
            tunnels=result.tunnels,
            allowlist_loaded=result.allowlist_loaded,
            tunnel_changes=len(result.tunnel_changes),
            waiting=result.waiting,
        )
        tunnel_text = (
            f", {result.tunnels} tunnels: "
            f"{'allow-list loaded, ' if result.allowlist_loaded else ''}"
            f"{len(result.tunnel_changes)} changes, {len(result.waiting)} waiting for a bridge"
        )
    message = (
        f"pass over {result.bridges} lesson bridges: "
        f"{'tables loaded, ' if result.rules_loaded else ''}{len(result.changes)} changes, "
        f"{len(result.deleted)} deleted"
        + tunnel_text
        + (f"; errors: {'; '.join(result.errors)}" if result.errors else "")
    )
    level = logging.WARNING if result.errors else logging.INFO
    if not result.did_something:
        level = logging.DEBUG
    log.log(level, message, extra={EXTRA_KEY: fields})


class TunnelSource(Protocol):
    """Where a pass gets the tunnels this node should have: a file, or the cluster."""

    def read(self) -> Wanted:
        """LookupError when it cannot be read."""
        ...

    def mark_wired(self, found: Wanted, waiting: Collection[str]) -> list[Key]:
        """After a pass that made the tunnels: tell whoever waits on them (LookupError)."""
        ...


class FileSource:
    """The tunnels of a JSON file (--tunnels), read every pass; nobody waits on them."""

    def __init__(self, path: Path, prefix: str = BRIDGE_PREFIX) -> None:
        self.path, self.prefix = path, prefix

    def read(self) -> Wanted:
        try:
            return Wanted(tunnels.read(self.path, self.prefix), {}, frozenset())
        except (OSError, ValueError) as error:
            raise LookupError(f"tunnels file {self.path}: {error}") from None

    def mark_wired(self, found: Wanted, waiting: Collection[str]) -> list[Key]:
        return []


def one_pass(
    agent: Agent, heartbeat: Path | None, source: TunnelSource | None = None
) -> PassResult:
    """A pass, its log line, and the heartbeat file touched if it had no errors (what the
    probes look at). With a `source`, the desired tunnels are read from it for the pass, and
    once the pass made them without errors, the source is told which pods' links are wired;
    when it cannot be read, the pass leaves tunnels as they are (and reports an error)."""
    found: Wanted | None = None
    problem = None
    if source is not None:
        try:
            found = source.read()
        except LookupError as error:
            problem = str(error)
    result = agent.run_pass(found.tunnels if found is not None else None)
    if problem is not None:
        result.errors.append(problem)
    if source is not None and found is not None and not result.errors:
        try:
            result.wired = source.mark_wired(found, result.waiting)
        except LookupError as error:
            result.errors.append(str(error))
    report(result)
    if heartbeat is not None and not result.errors:
        heartbeat.touch()
    return result


def run(
    agent: Agent,
    interval: float,
    stop: threading.Event,
    heartbeat: Path | None,
    source: TunnelSource | None = None,
) -> None:
    """A pass every `interval` seconds until `stop` is set."""
    while not stop.is_set():
        one_pass(agent, heartbeat, source)
        stop.wait(interval)
