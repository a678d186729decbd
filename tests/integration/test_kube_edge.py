"""The Kubernetes edge (``kube.Kube``) against kubesim: what each answer becomes.

The fast tests use a fake cluster, so only here does the official client's transport sit between
lessonq and an HTTP server. That is where the 429 bug lived: urllib3, left to honour Retry-After
with no status retries, turned a 429 into a MaxRetryError, and the step saw a connection error
with neither status nor Retry-After and retried sooner than the server asked.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import kube
from config.settings import load_settings
from kube.kinds import NAMESPACE
from kube.objects import Obj
from kubesim import KubeSim
from tasks.outcomes import reason

pytestmark = pytest.mark.integration

FAST = 0.01  # kubesim's time_scale
RETRY_AFTER = 3
LABEL = "lessonq-test"
_names = itertools.count()


@pytest.fixture(scope="module")
def sim() -> Iterator[KubeSim]:
    with KubeSim(time_scale=FAST, seed=0) as running:
        yield running


@pytest.fixture
def edge(sim: KubeSim) -> Iterator[kube.Kube]:
    client = kube.Kube.from_settings(load_settings(kube_url=sim.url, api_timeout=5))
    yield client
    client.close()
    sim.set_faults([])


def fresh_name() -> str:
    return f"edge-{next(_names)}"


def namespace(name: str, **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def answered(sim: KubeSim, verb: str) -> dict[str, int]:
    """How often kubesim answered `verb` on namespaces, by status code."""
    counts: dict[str, int] = sim.stats()["requests"].get(verb, {}).get("namespaces", {})
    return dict(counts)


# One call of each verb the edge makes, on a namespace.
CALLS: dict[str, Callable[[kube.Kube], Any]] = {
    "get": lambda edge: edge.read(NAMESPACE, "default"),
    "list": lambda edge: edge.listing(NAMESPACE, None, f"{LABEL}=calls"),
    "create": lambda edge: edge.create(namespace(fresh_name())),
    "delete": lambda edge: edge.delete(NAMESPACE, fresh_name(), "0000-uid"),
}


@pytest.mark.parametrize("verb", list(CALLS))
def test_429_is_transient_with_its_status_and_retry_after(
    sim: KubeSim, edge: kube.Kube, verb: str
) -> None:
    sim.set_faults(
        [{"verb": verb, "resource": "namespaces", "error_429": 1.0, "retry_after": RETRY_AFTER}]
    )
    before = answered(sim, verb).get("429", 0)
    with pytest.raises(kube.TransientError) as raised:
        CALLS[verb](edge)
    error = raised.value
    assert (error.status, error.reason, error.retry_after) == (429, "TooManyRequests", RETRY_AFTER)
    assert reason(error) == "429"
    # Asked once: lessonq's backoff retries, not urllib3.
    assert answered(sim, verb).get("429", 0) == before + 1


@pytest.mark.parametrize("verb", list(CALLS))
def test_503_is_transient_with_its_status(sim: KubeSim, edge: kube.Kube, verb: str) -> None:
    sim.set_faults([{"verb": verb, "resource": "namespaces", "error_503": 1.0}])
    with pytest.raises(kube.TransientError) as raised:
        CALLS[verb](edge)
    error = raised.value
    # kubesim's 503 carries no Retry-After, so there is none to pass on.
    assert (error.status, error.reason, error.retry_after) == (503, "ServiceUnavailable", None)
    assert reason(error) == "5xx"


def test_a_429_on_a_read_is_labelled_429_not_no_status(sim: KubeSim, edge: kube.Kube) -> None:
    """Failed before the fix: urllib3 retried the GET itself and gave up without a status."""
    sim.set_faults([{"verb": "get", "resource": "namespaces", "error_429": 1.0, "retry_after": 1}])
    with pytest.raises(kube.TransientError) as raised:
        edge.read(NAMESPACE, "default")
    assert reason(raised.value) == "429"
    assert raised.value.retry_after == 1


def test_create_of_a_taken_name_is_already_exists(edge: kube.Kube) -> None:
    manifest = namespace(fresh_name())
    created = edge.create(manifest)
    assert created["metadata"]["uid"]
    with pytest.raises(kube.PermanentError) as raised:
        edge.create(manifest)
    error = raised.value
    assert (error.status, error.reason) == (409, "AlreadyExists")
    assert manifest["metadata"]["name"] in error.message
    assert reason(error) == "AlreadyExists"


def test_read_of_a_missing_object_is_none(edge: kube.Kube) -> None:
    assert edge.read(NAMESPACE, fresh_name()) is None
    assert edge.read(NAMESPACE, "default") is not None


def test_delete_with_a_stale_uid_is_none_and_deletes_nothing(edge: kube.Kube) -> None:
    name = fresh_name()
    uid = edge.create(namespace(name))["metadata"]["uid"]
    assert edge.delete(NAMESPACE, name, "not-" + uid) is None
    still = edge.read(NAMESPACE, name)
    assert still is not None and "deletionTimestamp" not in still["metadata"]
    terminating = edge.delete(NAMESPACE, name, uid)
    assert terminating is not None and terminating["metadata"]["uid"] == uid


def test_delete_of_a_missing_object_is_none(edge: kube.Kube) -> None:
    assert edge.delete(NAMESPACE, fresh_name(), "0000-uid") is None


def test_listing_has_the_matching_items_and_a_resource_version(edge: kube.Kube) -> None:
    name = fresh_name()
    edge.create(namespace(name, **{LABEL: name}))
    found = edge.listing(NAMESPACE, None, f"{LABEL}={name}")
    assert [item["metadata"]["name"] for item in found.items] == [name]
    assert int(found.resource_version) > 0


def test_watch_yields_added_then_modified_and_ends_within_its_budget(edge: kube.Kube) -> None:
    name = fresh_name()
    selector = f"{LABEL}={name}"
    since = edge.listing(NAMESPACE, None, selector).resource_version
    uid = edge.create(namespace(name, **{LABEL: name}))["metadata"]["uid"]
    edge.delete(NAMESPACE, name, uid)  # Terminating: a MODIFIED event
    seconds = 1.0
    started = time.monotonic()
    events = list(edge.watch(NAMESPACE, None, selector, since, seconds))
    elapsed = time.monotonic() - started
    types = [event.type for event in events]
    assert types[:2] == ["ADDED", "MODIFIED"], types
    assert {event.obj["metadata"]["name"] for event in events} == {name}
    assert "deletionTimestamp" in events[1].obj["metadata"]
    assert set(types) <= {"ADDED", "MODIFIED", "DELETED"}  # no BOOKMARK gets through
    # The server ends the watch after `seconds`; the client's own limit adds the API timeout.
    assert elapsed < seconds + 5


def test_watch_from_a_too_old_resource_version_is_transient_410() -> None:
    with KubeSim(time_scale=FAST, watch_window=5) as small:
        edge = kube.Kube.from_settings(load_settings(kube_url=small.url, api_timeout=5))
        try:
            for index in range(10):
                edge.create(namespace(f"old-{index}"))
            with pytest.raises(kube.TransientError) as raised:
                list(edge.watch(NAMESPACE, None, "", "1", 1))
        finally:
            edge.close()
    error = raised.value
    assert (error.status, error.reason, error.retry_after) == (410, "Expired", 0)
    assert reason(error) == "410"


def test_an_unreachable_api_is_transient_without_status() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens there now: every connection is refused.
    edge = kube.Kube.from_settings(load_settings(kube_url=f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(kube.TransientError) as raised:
            edge.read(NAMESPACE, "default")
    finally:
        edge.close()
    error = raised.value
    assert (error.status, error.retry_after) == (None, None)
    assert reason(error) == "no-status"


def test_a_dropped_connection_is_transient_without_status(sim: KubeSim, edge: kube.Kube) -> None:
    sim.set_faults([{"verb": "get", "resource": "namespaces", "drop": 1.0}])
    with pytest.raises(kube.TransientError) as raised:
        edge.read(NAMESPACE, "default")
    assert raised.value.status is None
    assert reason(raised.value) == "no-status"
