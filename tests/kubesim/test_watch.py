"""Watches with the official client's Watch helper, and the stream details underneath."""

from __future__ import annotations

import http.client
import json
import threading
import time

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


def test_a_watch_ends_when_its_client_leaves() -> None:
    """Even without bookmarks to write, the server notices the closed socket and lets go."""
    with KubeSim(time_scale=FAST, bookmark_seconds=0.05) as sim:
        host, port = sim.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=600")
        response = connection.getresponse()
        assert response.status == 200
        wait_for(lambda: sim.stats()["watches_open"] == 1, what="the watch")
        response.close()
        connection.close()
        wait_for(lambda: sim.stats()["watches_open"] == 0, timeout=5, what="the watch to end")


def test_a_resource_version_from_the_future_is_too_large() -> None:
    with KubeSim(time_scale=FAST) as sim:
        current = sim.cluster.store.resource_version
        ahead = current + 1000
        started = time.monotonic()
        events = stream(sim, f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={ahead}")
        assert time.monotonic() - started >= 3  # the watch cache waits for it first
        assert events == [
            {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"Timeout: Too large resource version: {ahead}, current: {current}",
                    "reason": "Timeout",
                    "details": {
                        "causes": [
                            {
                                "reason": "ResourceVersionTooLarge",
                                "message": "Too large resource version",
                            }
                        ],
                        "retryAfterSeconds": 1,
                    },
                    "code": 504,
                },
            }
        ]


def test_a_watch_slightly_ahead_waits_for_its_resource_version(core: client.CoreV1Api) -> None:
    ahead = int(core.list_namespaced_config_map("default").metadata.resource_version) + 1

    def create_two() -> None:
        time.sleep(0.3)
        for name in ("first", "second"):
            core.create_namespaced_config_map("default", {"metadata": {"name": name}})

    creator = threading.Thread(target=create_two)
    creator.start()
    events = watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=str(ahead), timeout_seconds=2
    )
    seen = [(e["type"], e["object"].metadata.name) for e in events]
    creator.join()
    assert seen == [("ADDED", "second")]  # "first" is the resourceVersion asked for


def test_a_bookmark_never_runs_ahead_of_an_event_still_to_come() -> None:
    with KubeSim(time_scale=FAST, bookmark_seconds=0.001) as sim:
        core = client.CoreV1Api(api_client(sim))
        start = core.list_namespaced_config_map("default").metadata.resource_version

        def create() -> None:
            for index in range(150):
                core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})

        creator = threading.Thread(target=create)
        creator.start()
        events = stream(
            sim,
            "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true"
            f"&timeoutSeconds=2&resourceVersion={start}",
        )
        creator.join()
    seen = 0
    for event in events:
        rv = int(event["object"]["metadata"]["resourceVersion"])  # type: ignore[index]
        if event["type"] == "BOOKMARK":
            seen = max(seen, rv)
        else:
            assert rv > seen, "an event at or below a resourceVersion already bookmarked"
    assert sum(e["type"] == "ADDED" for e in events) == 150
