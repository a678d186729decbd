"""One pass of the node agent over its host, and the loop of passes.

A pass: the nftables tables first (they protect every lesson bridge, new ones included), then
discovery, the knobs of every lesson bridge and port that needs them, and last the deletion of
bridges empty for the grace period. A failure in one part is reported and the pass goes on with
the others; the next pass tries again, as every part only does what is still missing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

from config.clock import SYSTEM_CLOCK, Clock
from config.logs import EXTRA_KEY
from nodeagent import knobs
from nodeagent.bridges import BRIDGE_PREFIX, lesson_bridges
from nodeagent.cleanup import EmptyBridges, delete_empty
from nodeagent.host import Change, Host, HostError
from nodeagent.rules import Rules

log = logging.getLogger("lessonq.nodeagent")


@dataclasses.dataclass
class PassResult:
    bridges: int = 0
    rules_loaded: bool = False
    changes: list[Change] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def did_something(self) -> bool:
        return self.rules_loaded or bool(self.changes or self.deleted or self.errors)


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
        self.empty = EmptyBridges(state)

    def run_pass(self) -> PassResult:
        result = PassResult()
        try:
            result.rules_loaded = self.rules.ensure(self.host)
        except HostError as error:
            result.errors.append(f"nftables: {error}")
        try:
            bridges = lesson_bridges(self.host.links(), self.prefix)
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


def report(result: PassResult) -> None:
    """One log line for a pass that did something (WARNING when something failed)."""
    fields = {
        "bridges": result.bridges,
        "rules_loaded": result.rules_loaded,
        "changes": len(result.changes),
        "deleted": result.deleted,
        "errors": result.errors,
    }
    message = (
        f"pass over {result.bridges} lesson bridges: "
        f"{'tables loaded, ' if result.rules_loaded else ''}{len(result.changes)} changes, "
        f"{len(result.deleted)} deleted"
        + (f"; errors: {'; '.join(result.errors)}" if result.errors else "")
    )
    level = logging.WARNING if result.errors else logging.INFO
    if not result.did_something:
        level = logging.DEBUG
    log.log(level, message, extra={EXTRA_KEY: fields})


def one_pass(agent: Agent, heartbeat: Path | None) -> PassResult:
    """A pass, its log line, and the heartbeat file touched if it had no errors (what the
    probes look at)."""
    result = agent.run_pass()
    report(result)
    if heartbeat is not None and not result.errors:
        heartbeat.touch()
    return result


def run(agent: Agent, interval: float, stop: threading.Event, heartbeat: Path | None) -> None:
    """A pass every `interval` seconds until `stop` is set."""
    while not stop.is_set():
        one_pass(agent, heartbeat)
        stop.wait(interval)
