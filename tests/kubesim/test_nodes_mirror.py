"""The node simulator's mirror of a real apiserver: what a list and the watch events make of it."""

from __future__ import annotations

from typing import Any

from kubesim.clock import Ids
from kubesim.nodes import Endpoint, Mirror, Remote

PODS = ("", "pods")


def pod(name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


def mirror() -> Mirror:
    return Mirror(Remote(Endpoint("http://127.0.0.1:9", "token")), Ids(0))  # never called


def test_a_list_adds_changes_and_deletes_what_went_meanwhile() -> None:
    held = mirror()
    held.replace(PODS, [pod("a", 1), pod("b", 2)])
    changes = held.replace(PODS, [pod("b", 5), pod("c", 6)])
    assert [(c.type, c.obj["metadata"]["name"]) for c in changes] == [
        ("DELETED", "a"),
        ("MODIFIED", "b"),
        ("ADDED", "c"),
    ]
    assert held.get(PODS, "ns", "a") is None
    assert held.get(PODS, "ns", "b") == pod("b", 5)


def test_an_event_older_than_what_is_held_changes_nothing() -> None:
    held = mirror()
    held.seen(PODS, pod("a", 7))  # the kubelet's own write came back first
    assert held.seen(PODS, pod("a", 6)) == pod("a", 7)
    assert held.get(PODS, "ns", "a") == pod("a", 7)
    held.seen(PODS, pod("a", 8), deleted=True)
    assert held.get(PODS, "ns", "a") is None
