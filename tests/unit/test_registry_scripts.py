"""The registry's Lua scripts (``registry.scripts``): each header names what its body binds,
and a call must name every key and argument, checked before anything reaches Redis."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from registry.scripts import Script, ScriptError, _source, header_names, load_all

SCRIPTS = sorted(
    path.name.removesuffix(".lua")
    for path in (files("registry") / "lua").iterdir()
    if path.name.endswith(".lua")
)
# A client of a server that is not there: a call that reached it would fail to connect.
NOWHERE = redis.Redis(
    host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
)

CLAIM_KEYS = {"heartbeat": "hb"}
CLAIM_ARGS = {"quiet_since": 1.0, "now": 2.0, "limit": 10}


def test_the_registry_ships_its_seven_scripts() -> None:
    assert SCRIPTS == [
        "allocate_vnis",
        "begin_stage",
        "begin_teardown",
        "claim_stalled",
        "complete_step",
        "create",
        "start_step",
    ]


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_scripts_header_and_body_agree(name: str) -> None:
    text, keys, args = _source(name)

    header = re.findall(r"^-- (KEYS|ARGV)\[(\d+)\] (\w+):", text, re.MULTILINE)
    assert keys == tuple(n for table, _, n in header if table == "KEYS")
    assert args == tuple(n for table, _, n in header if table == "ARGV")
    assert keys, f"{name}.lua uses no keys"
    for table, names in (("KEYS", keys), ("ARGV", args)):
        for index, bound in enumerate(names, start=1):
            assert f"local {bound} = {table}[{index}]\n" in text
    # Nothing in the body reads KEYS or ARGV other than through those names.
    assert len(re.findall(r"(KEYS|ARGV)\[", text)) == 2 * (len(keys) + len(args))


def test_the_names_of_claim_stalled_are_those_its_header_gives() -> None:
    _, keys, args = _source("claim_stalled")

    assert (keys, args) == (("heartbeat",), ("quiet_since", "now", "limit"))


@pytest.mark.parametrize(
    ("keys", "args", "problem"),
    [
        ({}, CLAIM_ARGS, r"keys missing \['heartbeat'\], unknown \[\]"),
        ({**CLAIM_KEYS, "expiry": "x"}, CLAIM_ARGS, r"keys missing \[\], unknown \['expiry'\]"),
        (
            {"heart_beat": "hb"},
            CLAIM_ARGS,
            r"keys missing \['heartbeat'\], unknown \['heart_beat'\]",
        ),
        (CLAIM_KEYS, {"now": 2.0}, r"arguments missing \['limit', 'quiet_since'\], unknown \[\]"),
        (CLAIM_KEYS, {**CLAIM_ARGS, "id": "x"}, r"arguments missing \[\], unknown \['id'\]"),
    ],
)
def test_a_call_with_a_missing_or_unknown_name_fails_before_reaching_redis(
    keys: dict[str, str], args: dict[str, float], problem: str
) -> None:
    script = Script(NOWHERE, "claim_stalled")

    with pytest.raises(ScriptError, match=f"^claim_stalled.lua: {problem}$"):
        script(keys=keys, args=args)


def test_a_call_that_fits_its_header_does_reach_redis() -> None:
    script = Script(NOWHERE, "claim_stalled")

    with pytest.raises(redis.ConnectionError):
        script(keys=CLAIM_KEYS, args=CLAIM_ARGS)


def test_a_script_that_does_not_exist_is_refused_when_registered() -> None:
    with pytest.raises(FileNotFoundError):
        Script(NOWHERE, "no_such_script")


GOOD = """-- KEYS[1] record: hash
-- ARGV[1] now: the time
local record = KEYS[1]
local now = ARGV[1]
"""


def test_a_header_and_a_body_that_agree_give_the_names_in_order() -> None:
    assert header_names("good", GOOD) == (("record",), ("now",))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            GOOD.replace("local now = ARGV[1]", "local when = ARGV[1]"),
            "ARGV[1] is not bound to now",
        ),
        (GOOD.replace("local record = KEYS[1]\n", ""), "KEYS[1] is not bound to record"),
        (GOOD.replace("-- ARGV[1] now", "-- ARGV[2] now"), "ARGV[2] is out of order"),
    ],
)
def test_a_header_and_a_body_that_disagree_are_refused_naming_the_entry(
    text: str, problem: str
) -> None:
    with pytest.raises(ScriptError, match=re.escape(f"bad.lua: {problem}")):
        header_names("bad", text)


def test_loading_all_reads_every_script_once_and_keeps_it() -> None:
    _source.cache_clear()
    assert load_all() == SCRIPTS
    assert _source.cache_info().currsize == len(SCRIPTS)
