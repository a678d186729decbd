"""The registry's Lua scripts (``registry/lua/*.lua``), called with keys and arguments by name.

Each script's header documents its keys and arguments, one per line, as ``-- KEYS[1] name: ...``
and ``-- ARGV[1] name: ...``, and its body binds each to that name (``local name = KEYS[1]``).
Loading checks that the two agree; a call names every key and argument, and one that is missing
or unknown is an error before anything reaches Redis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

import redis
from redis.commands.core import Script as RedisScript
from redis.typing import EncodableT

_HEADER = re.compile(r"^-- (KEYS|ARGV)\[(\d+)\] (\w+):", re.MULTILINE)


class ScriptError(ValueError):
    """A script's header and body disagree, or a call does not fit its header."""


@cache
def _source(name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The script's text and the names of its keys and of its arguments, in order."""
    text = (files(__package__) / "lua" / f"{name}.lua").read_text()
    return (text, *header_names(name, text))


def load_all() -> list[str]:
    """Read and check every script once (the results are kept): a worker does it before it
    forks its pool, so that no child has to. Returns their names."""
    names = sorted(
        path.name.removesuffix(".lua")
        for path in (files(__package__) / "lua").iterdir()
        if path.name.endswith(".lua")
    )
    for name in names:
        _source(name)
    return names


def header_names(name: str, text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of a script's keys and of its arguments, as its header gives and its body
    binds them; ScriptError where the two disagree."""
    names: dict[str, list[str]] = {"KEYS": [], "ARGV": []}
    for table, index, bound in _HEADER.findall(text):
        if int(index) != len(names[table]) + 1:
            raise ScriptError(f"{name}.lua: {table}[{index}] is out of order")
        if not re.search(rf"^local {bound} = {table}\[{index}\]$", text, re.MULTILINE):
            raise ScriptError(f"{name}.lua: {table}[{index}] is not bound to {bound}")
        names[table].append(bound)
    return tuple(names["KEYS"]), tuple(names["ARGV"])


def _ordered(
    script: str, what: str, wanted: tuple[str, ...], given: Mapping[str, Any]
) -> list[Any]:
    if set(given) != set(wanted):
        missing, unknown = set(wanted) - set(given), set(given) - set(wanted)
        raise ScriptError(
            f"{script}.lua: {what} missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    return [given[name] for name in wanted]


class Script:
    """One script, registered with a client (sent by its SHA, loaded again after a restart)."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.name = name
        text, self._keys, self._args = _source(name)
        self._script: RedisScript = client.register_script(text)

    def __call__(self, keys: Mapping[str, str], args: Mapping[str, EncodableT]) -> Any:
        return self._script(
            keys=_ordered(self.name, "keys", self._keys, keys),
            args=_ordered(self.name, "arguments", self._args, args),
        )
