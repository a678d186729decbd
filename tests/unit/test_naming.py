"""Session ids, namespace names, bridge names and label values."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons.naming import (
    bridge_name,
    is_dns1123_label,
    is_label_value,
    is_port_name,
    label_value,
    namespace_name,
    validate_session_id,
)

SESSION_CHARS = string.ascii_letters + string.digits + "_-"
session_ids = st.text(alphabet=SESSION_CHARS, min_size=1, max_size=64)
slugs = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _is_namespace(name: str) -> bool:
    return len(name) <= 63 and DNS1123_LABEL.fullmatch(name) is not None


# --- session ids --------------------------------------------------------------------------


@pytest.mark.parametrize("session_id", ["a", "A-b_c", "0", "-", "_x", "x" * 64, "Session-42"])
def test_good_session_ids(session_id: str) -> None:
    assert validate_session_id(session_id) == session_id


@pytest.mark.parametrize(
    "session_id",
    ["", "x" * 65, "../x", "a b", "a/b", "a.b", "ünï", "a\n", "a\x00b", "é", "a:b", "\u202ex"],
)
def test_hostile_session_ids_are_refused(session_id: str) -> None:
    with pytest.raises(ValueError, match="session_id") as error:
        validate_session_id(session_id)
    message = str(error.value)
    assert message.isascii() and "\n" not in message and "\x00" not in message
    assert len(message) < 160


@pytest.mark.parametrize("session_id", [None, 42, b"abc", ["a"], 1.5])
def test_non_string_session_ids_are_refused(session_id: object) -> None:
    with pytest.raises(ValueError, match="session_id must be a string"):
        validate_session_id(session_id)


def test_a_long_hostile_id_is_shown_truncated() -> None:
    with pytest.raises(ValueError) as error:
        validate_session_id("<" * 500)
    assert "..." in str(error.value)
    assert len(str(error.value)) < 160


# --- namespaces ---------------------------------------------------------------------------


def test_namespace_is_readable_and_deterministic() -> None:
    name = namespace_name("default", "linux-basics", "Session-42")
    assert name.startswith("linux-basics-session-42-")
    assert name == namespace_name("default", "linux-basics", "Session-42")
    assert _is_namespace(name)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("default", "lesson", "Abc"), ("default", "lesson", "abc")),  # case only
        (("default", "a-b", "c"), ("default", "a", "b-c")),  # same joined text
        (("default", "lesson", "s_1"), ("default", "lesson", "s-1")),  # '_' sanitised to '-'
        (("staging", "lesson", "s1"), ("prod", "lesson", "s1")),  # two instances
        (("default", "x" * 63, "s" * 63 + "1"), ("default", "x" * 63, "s" * 63 + "2")),  # cut
    ],
)
def test_namespaces_that_read_alike_still_differ(
    first: tuple[str, str, str], second: tuple[str, str, str]
) -> None:
    assert namespace_name(*first) != namespace_name(*second)


def test_long_and_odd_inputs_give_valid_names() -> None:
    for slug, session in [
        ("x" * 63, "y" * 64),
        ("a", "-"),
        ("a", "_"),
        ("-", "---"),
        ("lesson", "-leading"),
        ("a" * 50, "_" + "b" * 63),
    ]:
        name = namespace_name("default", slug, session)
        assert _is_namespace(name), name


def test_namespace_refuses_a_bad_session_id() -> None:
    with pytest.raises(ValueError, match="session_id"):
        namespace_name("default", "lesson", "../etc")


@settings(max_examples=200, deadline=None)
@given(slug=slugs, first=session_ids, second=session_ids)
def test_namespaces_are_valid_and_distinct(slug: str, first: str, second: str) -> None:
    a, b = namespace_name("default", slug, first), namespace_name("default", slug, second)
    assert _is_namespace(a) and _is_namespace(b)
    assert (a == b) == (first == second)


# --- bridges ------------------------------------------------------------------------------


def test_bridge_names_fit_ifnamsiz_and_are_stable() -> None:
    name = bridge_name("linux-basics-s1-abcdefghij", 0)
    assert len(name) <= 15 and name.startswith("lq")
    assert re.fullmatch(r"[a-z0-9]+", name)
    assert name == bridge_name("linux-basics-s1-abcdefghij", 0)


def test_bridge_names_differ_across_links_and_lessons() -> None:
    namespaces = [namespace_name("default", "fabric", f"s{n}") for n in range(200)]
    names = {bridge_name(ns, index) for ns in namespaces for index in range(64)}
    assert len(names) == 200 * 64
    assert all(len(name) <= 15 for name in names)
    # Index 1 of one namespace is not index 11 of a similar one (no naive concatenation).
    assert bridge_name("ns1", 11) != bridge_name("ns11", 1)


@pytest.mark.parametrize("index", [-1, True, 1.0, "0"])
def test_bridge_index_must_be_a_natural_number(index: object) -> None:
    with pytest.raises(ValueError, match="link_index"):
        bridge_name("ns", index)  # type: ignore[arg-type]


# --- label values -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "A-b_c.d", "x" * 63, "0"])
def test_valid_label_values_are_kept(value: str) -> None:
    assert label_value(value) == value


@pytest.mark.parametrize("value", ["x" * 64, "-abc", "abc-", "_x", "a b", "é", "-", "_" * 64])
def test_other_values_are_made_valid(value: str) -> None:
    label = label_value(value)
    assert is_label_value(label) and label
    assert label == label_value(value)


def test_made_up_label_values_stay_distinct_and_readable() -> None:
    long_one, long_two = "s" * 63 + "1", "s" * 63 + "2"
    assert label_value(long_one) != label_value(long_two)
    assert label_value("-abc") != label_value("_abc")
    assert label_value("-Session").startswith("Session-")


@settings(max_examples=200, deadline=None)
@given(session_ids)
def test_every_session_id_has_a_label_value(session_id: str) -> None:
    assert is_label_value(label_value(session_id))


# --- small predicates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("cli", True),
        ("port-22", True),
        ("web1", True),
        ("22", False),
        ("a--b", False),
        ("CLI", False),
        ("-a", False),
        ("abcdefghijklmnop", False),
        ("", False),
    ],
)
def test_port_names(name: str, ok: bool) -> None:
    assert is_port_name(name) is ok


def test_dns_labels() -> None:
    assert is_dns1123_label("1abc") and not is_dns1123_label("a" * 64)
    assert not is_dns1123_label("") and not is_dns1123_label("a_b")
