"""The agent's nftables tables, and keeping them loaded.

Two tables of the agent's own, both named `TABLE`, matching lesson bridges by name (``"lq*"``),
so a bridge is covered from its first frame, before any pass has seen it:

- ``inet``: *prerouting*, at the raw priority (before conntrack): ``notrack``. With
  ``br_netfilter`` (which Kubernetes needs) every bridged IPv4/IPv6 frame goes through the
  node's inet hooks with the bridge as its interface, so each lesson packet would cost conntrack
  work and entries, and rules such as a "ct state invalid drop" in FORWARD (kube-proxy has had
  one) could drop lesson traffic that conntrack cannot follow (a flow routed over several links
  of one lesson meets the node's conntrack once per link, under one tuple).
  *input* and *output*: drop, so the node neither answers nor speaks on a lesson link (pods
  reaching the node over their links, the node's IPv6 chatter on them).
- ``arp``: *input* and *output*: drop, so the node does not answer ARP on lesson links either.

What a table of its own cannot do: nftables runs every table's chains on a hook, and an
``accept`` ends only its own chain, so a node firewall that drops forwarded traffic still drops
lesson frames; it must accept ``iifname "lq*"`` in its own forward chain (README, "Node agent").

The tables are replaced in one transaction (nft's create, delete, create idiom), and reloaded
whenever their listing differs from the one the kernel gave right after the agent loaded them
(someone flushed the ruleset, or edited a chain).
"""

from __future__ import annotations

import re

from nodeagent.host import Host

TABLE = "lessonq"
FAMILIES = ("inet", "arp")
# Just after the usual filter chains' priority 0, so other tables see lesson frames first
# anyway; a drop is final wherever it is.
_FILTER = "filter - 10"


def _check(prefix: str) -> str:
    # The prefix goes into an nft string: keep it to what interface names are made of here.
    if re.fullmatch(r"[a-z0-9]+", prefix) is None:
        raise ValueError(f"bridge prefix {prefix!r} is not lowercase letters and digits")
    return prefix


def _chain(name: str, hook: str, priority: str, rule: str) -> str:
    return (
        f"\tchain {name} {{\n"
        f"\t\ttype filter hook {hook} priority {priority}; policy accept;\n"
        f"\t\t{rule}\n"
        "\t}\n"
    )


def ruleset(prefix: str) -> str:
    """The nft script that (re)creates the agent's tables for bridges named `prefix`*."""
    wildcard = f'"{_check(prefix)}*"'
    inet = (
        _chain("prerouting", "prerouting", "raw", f"iifname {wildcard} notrack")
        + _chain("input", "input", _FILTER, f"iifname {wildcard} drop")
        + _chain("output", "output", _FILTER, f"oifname {wildcard} drop")
    )
    arp = _chain("input", "input", _FILTER, f"iifname {wildcard} drop") + _chain(
        "output", "output", _FILTER, f"oifname {wildcard} drop"
    )
    script = ""
    for family, body in zip(FAMILIES, (inet, arp), strict=True):
        # Creating the table first lets the delete succeed when it does not exist yet.
        script += f"table {family} {TABLE}\ndelete table {family} {TABLE}\n"
        script += f"table {family} {TABLE} {{\n{body}}}\n"
    return script


class Rules:
    """Loads the tables when missing or changed; remembers what the kernel showed after."""

    def __init__(self, prefix: str) -> None:
        self.script = ruleset(prefix)
        self._loaded: str | None = None

    def ensure(self, host: Host) -> bool:
        """Load the tables unless they are as loaded; True when it loaded them."""
        if self._loaded is not None and host.ruleset() == self._loaded:
            return False
        host.load_ruleset(self.script)
        self._loaded = host.ruleset()
        return True
