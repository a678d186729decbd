"""Watches with the official client's Watch helper, and the stream details underneath."""

from __future__ import annotations

import http.client
import json

import pytest
from kubernetes import client, watch

from kubesim import KubeSim
from tests.kubesim.conftest import FAST, api_client, namespace, pod_body, wait_for


def test_pod_watch_sees_added_modified_deleted(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    start = core.list_namespaced_pod("a").metadata.resource_version
    core.create_namespaced_pod("a", pod_body("p"))
    wait_for(lambda: core.read_namespaced_pod("p", "a").spec.node_name, what="bound")
    core.delete_namespaced_pod("p", "a", grace_period_seconds=0)
    seen = []
    for event in watch.Watch().stream(
        core.list_namespaced_pod, "a", resource_version=start, timeout_seconds=1
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            break
    assert seen[0] == ("ADDED", "p")
    assert ("MODIFIED", "p") in seen  # bound by the scheduler
    assert seen[-1] == ("DELETED", "p")


def test_watch_without_resource_version_starts_with_the_current_state(
    core: client.CoreV1Api,
) -> None:
    names = [
        e["object"].metadata.name
        for e in watch.Watch().stream(core.list_namespace, timeout_seconds=1)
    ]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


def test_filtered_watch_sees_objects_enter_and_leave(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cm", "labels": {"tier": "web"}}}
    )
    core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    core.patch_namespaced_config_map("cm", "default", {"metadata": {"labels": {"tier": "db"}}})
    events = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="tier=web",
        resource_version=start,
        timeout_seconds=1,
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "cm"),
        ("DELETED", "cm"),
    ]


def test_too_old_resource_version_is_gone() -> None:
    with KubeSim(time_scale=FAST, watch_window=5) as sim:
        core = client.CoreV1Api(api_client(sim))
        for index in range(10):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{index}"}})
        with pytest.raises(client.ApiException) as caught:
            list(
                watch.Watch().stream(
                    core.list_namespaced_config_map,
                    "default",
                    resource_version="1",
                    timeout_seconds=1,
                )
            )
        assert caught.value.status == 410


def stream(sim: KubeSim, path: str) -> list[dict[str, object]]:
    host, port = sim.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    connection.close()
    return lines


def test_expired_is_an_error_event_in_the_stream() -> None:
    with KubeSim(time_scale=FAST, watch_window=5) as sim:
        core = client.CoreV1Api(api_client(sim))
        for index in range(10):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{index}"}})
        events = stream(sim, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1")
        assert len(events) == 1
        error = events[0]
        assert error["type"] == "ERROR"
        status = error["object"]
        assert isinstance(status, dict)
        assert (status["code"], status["reason"]) == (410, "Expired")
        assert str(status["message"]).startswith("too old resource version: 1 (")


def test_bookmarks_when_asked() -> None:
    with KubeSim(time_scale=FAST, bookmark_seconds=0.1) as quick:
        rv = quick.cluster.store.resource_version
        events = stream(
            quick,
            f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1",
        )
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    bookmark = events[0]["object"]
    assert (
        isinstance(bookmark, dict)
        and bookmark["kind"] == "Pod"
        and bookmark["metadata"]["resourceVersion"]
    )  # type: ignore[index]


def test_watch_is_counted_as_its_own_verb(sim: KubeSim, core: client.CoreV1Api) -> None:
    list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1))
    assert sim.stats()["requests"]["watch"]["pods"] == {"200": 1}
