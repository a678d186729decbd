"""Fault injection, request statistics, reset, and discovery."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import urllib3
from kubernetes import client

from kubesim import FaultRule, KubeSim
from kubesim.events import SEEN_MAX
from kubesim.resources import builtin
from kubesim.store import Change
from tests.kubesim.conftest import FAST, Raw, api_client, namespace


def test_injected_errors_are_apiserver_statuses(
    sim: KubeSim, core: client.CoreV1Api, raw: Raw
) -> None:
    sim.set_faults([FaultRule(verb="create", resource="namespaces", error_429=1.0, retry_after=3)])
    status, body, headers = raw.request("POST", "/api/v1/namespaces", {"metadata": {"name": "a"}})
    assert status == 429 and headers["Retry-After"] == "3"
    assert body["reason"] == "TooManyRequests" and body["details"] == {"retryAfterSeconds": 3}
    assert core.list_namespace().items  # other verbs are untouched
    sim.set_faults([{"resource": "pods", "error_500": 1.0}])
    status, body, _ = raw.request("GET", "/api/v1/namespaces/default/pods")
    assert (status, body["reason"]) == (500, "InternalError")
    sim.set_faults([{"verb": "get", "error_503": 1.0}])
    status, body, _ = raw.request("GET", "/api/v1/namespaces/default")
    assert (status, body["reason"]) == (503, "ServiceUnavailable")


def test_fault_rates_are_seeded_and_repeatable() -> None:
    def run() -> list[int]:
        with KubeSim(
            time_scale=FAST, seed=7, faults=[FaultRule(verb="list", error_503=0.5)]
        ) as sim:
            raw = Raw(sim.url)
            return [raw.request("GET", "/api/v1/namespaces")[0] for _ in range(20)]

    first = run()
    assert first == run()
    assert set(first) == {200, 503}


def test_dropped_connections(sim: KubeSim) -> None:
    sim.set_faults([FaultRule(verb="list", resource="namespaces", drop=1.0)])
    core = client.CoreV1Api(client.ApiClient(client.Configuration(host=sim.url)))
    with pytest.raises((urllib3.exceptions.HTTPError, ConnectionError)):
        core.list_namespace(_request_timeout=5)


def test_faults_endpoint(sim: KubeSim, raw: Raw) -> None:
    status, body, _ = raw.request(
        "PUT", "/_sim/faults", {"rules": [{"verb": "delete", "error_500": 1.0, "latency": 0.01}]}
    )
    assert status == 200 and body["rules"][0]["verb"] == "delete"
    assert raw.request("GET", "/_sim/faults")[1]["rules"][0]["error_500"] == 1.0
    raw.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "cm"}})
    assert raw.request("DELETE", "/api/v1/namespaces/default/configmaps/cm")[0] == 500
    assert raw.request("DELETE", "/_sim/faults")[1] == {"rules": []}
    assert raw.request("DELETE", "/api/v1/namespaces/default/configmaps/cm")[0] == 200
    assert (
        raw.request("PUT", "/_sim/faults", {"rules": [{"verb": "get", "error_500": 2}]})[0] == 400
    )


def test_stats_count_verb_resource_and_code(sim: KubeSim, core: client.CoreV1Api, raw: Raw) -> None:
    namespace(core, "a")
    core.list_namespace()
    with contextlib.suppress(client.ApiException):
        core.read_namespace("nope")
    stats = raw.request("GET", "/_sim/stats")[1]
    assert stats == sim.stats()
    assert stats["requests"]["create"]["namespaces"] == {"201": 1}
    assert stats["requests"]["get"]["namespaces"] == {"404": 1}
    assert stats["requests"]["list"]["namespaces"] == {"200": 1}
    assert stats["total"] == 3 and stats["by_verb"] == {"create": 1, "get": 1, "list": 1}
    assert stats["by_code"] == {"200": 1, "201": 1, "404": 1}


def test_reset(sim: KubeSim, core: client.CoreV1Api, raw: Raw) -> None:
    namespace(core, "a")
    sim.set_faults([FaultRule(verb="watch", error_500=1.0)])
    assert raw.request("POST", "/_sim/reset")[0] == 200
    assert [n.metadata.name for n in core.list_namespace().items] == [
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
    ]
    assert sim.stats()["total"] == 1
    assert raw.request("GET", "/api/v1/namespaces?watch=1&timeoutSeconds=1")[0] == 200


def test_version_and_discovery(sim: KubeSim, raw: Raw) -> None:
    version = client.VersionApi(api_client(sim)).get_code()
    assert version.git_version.startswith("v1.") and version.platform.startswith("linux/")
    groups = {
        g.name: g.preferred_version.version
        for g in client.ApisApi(api_client(sim)).get_api_versions().groups
    }
    assert groups == {
        "apiextensions.k8s.io": "v1",
        "batch": "v1",
        "k8s.cni.cncf.io": "v1",
        "networking.k8s.io": "v1",
        "node.k8s.io": "v1",
    }
    core = raw.request("GET", "/api/v1")[1]
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert (
        pods["namespaced"]
        and pods["kind"] == "Pod"
        and "watch" in pods["verbs"]
        and pods["shortNames"] == ["po"]
    )
    assert any(r["name"] == "pods/status" for r in core["resources"])
    assert raw.request("GET", "/api")[1]["versions"] == ["v1"]
    assert raw.request("GET", "/apis/nothing.example.com/v1")[0] == 404
    assert raw.request("GET", "/api/v1/widgets")[0] == 404


def test_openapi_v3_says_patch_and_field_validation(raw: Raw) -> None:
    index = raw.request("GET", "/openapi/v3")[1]["paths"]
    assert {"api/v1", "apis/batch/v1", "apis/k8s.cni.cncf.io/v1"} <= set(index)
    document = raw.request("GET", index["api/v1"]["serverRelativeURL"])[1]
    patch = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])
    containers = document["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"][
        "containers"
    ]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    nad = raw.request("GET", index["apis/k8s.cni.cncf.io/v1"]["serverRelativeURL"])[1]
    nad_patch = nad["paths"][
        "/apis/k8s.cni.cncf.io/v1/namespaces/{namespace}/network-attachment-definitions/{name}"
    ]["patch"]
    assert "application/strategic-merge-patch+json" not in nad_patch["requestBody"]["content"]


def test_strategic_merge_is_refused_for_custom_resources(raw: Raw) -> None:
    body = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "n"},
        "spec": {"config": "{}"},
    }
    path = "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions"
    raw.request("POST", path, body)
    status, answer, _ = raw.request(
        "PATCH", f"{path}/n", {"spec": {"config": "{}"}}, "application/strategic-merge-patch+json"
    )
    assert (status, answer["reason"]) == (415, "UnsupportedMediaType")


def test_health(raw: Raw) -> None:
    assert raw.request("GET", "/healthz")[:2] == (200, "ok")


def test_reset_waits_for_a_controller_at_work(
    sim: KubeSim, core: client.CoreV1Api, raw: Raw
) -> None:
    """A controller busy with the old cluster when the reset comes finishes first, so what it
    writes goes with the old cluster instead of appearing in the new one."""
    at_work = threading.Event()

    def slow_controller(change: Change) -> None:
        if change.obj["metadata"]["name"] == "trigger" and change.type == "ADDED":
            at_work.set()
            time.sleep(0.3)
            sim.cluster.api.create(builtin("configmaps"), "default", {"metadata": {"name": "late"}})

    sim.cluster.loop.subscribe(slow_controller)
    core.create_namespaced_config_map("default", {"metadata": {"name": "trigger"}})
    assert at_work.wait(5)
    assert raw.request("POST", "/_sim/reset")[0] == 200
    time.sleep(0.5)
    assert core.list_namespaced_config_map("default").items == []


def test_event_counting_remembers_the_latest_events_only(
    sim: KubeSim, core: client.CoreV1Api
) -> None:
    """As client-go's EventCorrelator (an LRU of 4096): a repeat is counted on the event it
    repeats while that is remembered, and is a new event once it has been forgotten."""
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    obj = sim.cluster.api.get(builtin("configmaps"), "default", "cm")

    def record(message: str) -> None:
        sim.cluster.events.record(obj, "Normal", "Tick", message, "test")

    record("first")
    record("first")
    for index in range(SEEN_MAX):
        record(f"filler {index}")
    record("first")
    events = core.list_namespaced_event("default", field_selector="reason=Tick").items
    assert sorted(e.count for e in events if e.message == "first") == [1, 2]
