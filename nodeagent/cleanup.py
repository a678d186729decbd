"""Deleting lesson bridges left empty: the bridge plugin never does, so without this every link
of every lesson would leave a bridge on its node forever.

A bridge has no age the kernel reports, so the agent keeps its own: when it first saw the
bridge without ports (its name and interface index, so a bridge deleted and made again starts
afresh). A bridge that has had no ports on every pass for `grace` seconds since is deleted,
after a fresh look just before (still that bridge, still without ports). A bridge that gained
a port, or went away, is forgotten. The clocks are kept in a state file when given one (the
DaemonSet keeps it in an emptyDir, so a restarted agent keeps them; ``--once`` runs need one
to ever reach the grace); without it, or with a file that cannot be read, every clock starts
at the agent's first pass: a bridge is never deleted sooner than `grace` after the agent saw
it empty, only later.

The grace covers the moments a bridge is empty while in use: the plugin creates it and attaches
the first pod's veth a few milliseconds later, and a pod being recreated leaves its link's
bridge with one port or none for a while. Deleting a bridge that is still wanted costs little
(the next pod's ADD makes it again), but one that a pod joins in the same instant as the delete
would leave that pod's link cut: the fresh look keeps that window to the time of one command.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

from nodeagent.bridges import BRIDGE_PREFIX, Bridge, lesson_bridges
from nodeagent.host import Host

log = logging.getLogger("lessonq.nodeagent")


@dataclasses.dataclass(frozen=True)
class Empty:
    index: int
    since: float


class EmptyBridges:
    """When each empty lesson bridge was first seen empty; optionally kept in a file."""

    def __init__(self, state: Path | None = None) -> None:
        self.state = state
        self.seen: dict[str, Empty] = self._read()
        self._saved: str | None = None

    def _read(self) -> dict[str, Empty]:
        if self.state is None or not self.state.exists():
            return {}
        try:
            raw = json.loads(self.state.read_text())
            return {name: Empty(int(e["index"]), float(e["since"])) for name, e in raw.items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            log.warning("state file %s ignored (%s): every clock starts now", self.state, error)
            return {}

    def save(self) -> None:
        """Write the clocks to the state file, when they changed since the last write."""
        if self.state is None:
            return
        text = json.dumps({name: dataclasses.asdict(e) for name, e in sorted(self.seen.items())})
        if text == self._saved:
            return
        temporary = self.state.with_name(self.state.name + ".tmp")
        temporary.write_text(text)
        os.replace(temporary, self.state)  # never a half-written file
        self._saved = text

    def due(self, bridges: list[Bridge], now: float, grace: float) -> dict[str, int]:
        """Update the clocks from what a pass found; the bridges empty for `grace` seconds."""
        seen = {}
        for bridge in bridges:
            if bridge.ports:
                continue
            known = self.seen.get(bridge.name)
            if known is None or known.index != bridge.link.index:
                known = Empty(bridge.link.index, now)
            seen[bridge.name] = known
        self.seen = seen
        return {name: e.index for name, e in seen.items() if now - e.since >= grace}

    def forget(self, name: str) -> None:
        self.seen.pop(name, None)


def delete_empty(host: Host, due: dict[str, int], prefix: str = BRIDGE_PREFIX) -> list[str]:
    """Delete the bridges of `due` (name: the interface index seen empty) that are still that
    bridge and still empty on a fresh look; the names deleted."""
    fresh = {bridge.name: bridge for bridge in lesson_bridges(host.links(), prefix)}
    deleted = []
    for name, index in due.items():
        bridge = fresh.get(name)
        if bridge is None or bridge.link.index != index or bridge.ports:
            continue  # gone, made again, or joined since the pass looked
        host.delete_link(name)
        deleted.append(name)
    return deleted
