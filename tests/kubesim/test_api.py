"""The verbs over real HTTP: status codes, metadata, selectors, patches, errors."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client

from kubesim import KubeSim
from kubesim.errors import Cause
from kubesim.resources import ResourceType
from kubesim.validation import SchemaValidators
from tests.kubesim.conftest import Raw, api_client, error_body, namespace, pod_body, wait_for


def test_create_answers_201_and_sets_metadata(raw: Raw) -> None:
    status, body, _ = raw.request("POST", "/api/v1/namespaces", {"metadata": {"name": "lesson-1"}})
    assert status == 201
    meta = body["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert body["status"]["phase"] == "Active"
    assert body["spec"]["finalizers"] == ["kubernetes"]


def test_resource_versions_grow_across_kinds(core: client.CoreV1Api) -> None:
    first = namespace(core, "a")
    second = core.create_namespaced_config_map(
        "a", {"metadata": {"name": "cm"}, "data": {"k": "v"}}
    )
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)


def test_get_replace_and_stale_update_conflict(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    created = core.create_namespaced_config_map(
        "a", {"metadata": {"name": "cm"}, "data": {"k": "v"}}
    )
    current = core.read_namespaced_config_map("cm", "a")
    current.data = {"k": "w"}
    updated = core.replace_namespaced_config_map("cm", "a", current)
    assert updated.data == {"k": "w"}
    created.data = {"k": "x"}  # still carries the first resourceVersion
    with pytest.raises(client.ApiException) as caught:
        core.replace_namespaced_config_map("cm", "a", created)
    body = error_body(caught.value)
    assert caught.value.status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert body["details"] == {"name": "cm", "kind": "configmaps"}


def test_already_exists_and_not_found(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    with pytest.raises(client.ApiException) as caught:
        namespace(core, "a")
    assert caught.value.status == 409
    assert error_body(caught.value)["reason"] == "AlreadyExists"
    assert error_body(caught.value)["message"] == 'namespaces "a" already exists'
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_pod("nope", "a")
    assert caught.value.status == 404
    assert error_body(caught.value)["message"] == 'pods "nope" not found'


def test_create_in_missing_namespace_is_namespace_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_pod("ghost", pod_body("p"))
    body = error_body(caught.value)
    assert (caught.value.status, body["reason"]) == (404, "NotFound")
    assert body["details"] == {"name": "ghost", "kind": "namespaces"}


def test_generate_name(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    pod = core.create_namespaced_pod(
        "a", {"metadata": {"generateName": "vqfx-"}, "spec": pod_body("x")["spec"]}
    )
    assert pod.metadata.name.startswith("vqfx-") and len(pod.metadata.name) == len("vqfx-") + 5


@pytest.mark.parametrize(
    ("method", "path", "verb", "resource"),
    [
        ("POST", "/api/v1/namespaces/default/pods/x", "create", "pods"),
        ("PUT", "/api/v1/namespaces/default/pods", "update", "pods"),
        ("POST", "/api/v1/pods", "create", "pods"),
        ("DELETE", "/api/v1/namespaces/default/pods/x/status", "delete", "pods/status"),
    ],
)
def test_method_not_allowed(
    sim: KubeSim, raw: Raw, method: str, path: str, verb: str, resource: str
) -> None:
    status, body, _ = raw.request(method, path, pod_body("x"))
    assert (status, body) == (
        405,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "the server does not allow this method on the requested resource",
            "reason": "MethodNotAllowed",
            "details": {},
            "code": 405,
        },
    )
    assert sim.stats()["requests"] == {verb: {resource: {"405": 1}}}


def test_body_kind_must_match_the_url(raw: Raw) -> None:
    status, body, _ = raw.request(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}},
    )
    assert status == 400
    assert body["reason"] == "BadRequest"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a"]),
        ("tier==web", ["a"]),
        ("tier!=web", ["b", "c"]),
        ("tier in (web,db)", ["a", "b"]),
        ("tier notin (web,db)", ["c"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c"]),
        ("tier=db,lesson=1", ["b"]),
    ],
)
def test_label_selectors(core: client.CoreV1Api, selector: str, expected: list[str]) -> None:
    namespace(core, "a")
    for name, labels in (
        ("a", {"tier": "web"}),
        ("b", {"tier": "db", "lesson": "1"}),
        ("c", {"lesson": "2"}),
    ):
        core.create_namespaced_config_map("a", {"metadata": {"name": name, "labels": labels}})
    found = core.list_namespaced_config_map("a", label_selector=selector)
    assert [cm.metadata.name for cm in found.items] == expected


def test_malformed_label_selector_is_bad_request(core: client.CoreV1Api) -> None:
    with pytest.raises(client.ApiException) as caught:
        core.list_namespaced_config_map("default", label_selector="tier in web")
    assert caught.value.status == 400


def test_field_selectors(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    namespace(core, "b")
    core.create_namespaced_pod("a", pod_body("p1"))
    core.create_namespaced_pod("b", pod_body("p2"))
    assert [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces(field_selector="metadata.namespace=b").items
    ] == ["p2"]
    assert [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces(field_selector="metadata.name!=p2").items
    ] == ["p1"]
    pending_or_running = core.list_pod_for_all_namespaces(
        field_selector="status.phase!=Failed"
    ).items
    assert len(pending_or_running) == 2
    with pytest.raises(client.ApiException) as caught:
        core.list_pod_for_all_namespaces(field_selector="spec.image=x")
    assert caught.value.status == 400
    assert "field label not supported" in error_body(caught.value)["message"]


def test_list_pages_with_limit_and_continue(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    for index in range(5):
        core.create_namespaced_config_map("a", {"metadata": {"name": f"cm-{index}"}})
    first = core.list_namespaced_config_map("a", limit=2)
    assert [c.metadata.name for c in first.items] == ["cm-0", "cm-1"]
    assert first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map("a", limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["cm-2", "cm-3", "cm-4"]


def test_merge_json_and_strategic_patches(core: client.CoreV1Api, raw: Raw) -> None:
    namespace(core, "a")
    core.create_namespaced_config_map(
        "a", {"metadata": {"name": "cm", "labels": {"x": "1", "y": "2"}}, "data": {"k": "v"}}
    )
    path = "/api/v1/namespaces/a/configmaps/cm"
    status, body, _ = raw.request(
        "PATCH",
        path,
        {"metadata": {"labels": {"x": None, "z": "3"}}},
        "application/merge-patch+json",
    )
    assert status == 200
    assert body["metadata"]["labels"] == {"y": "2", "z": "3"}
    status, body, _ = raw.request(
        "PATCH",
        path,
        [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}],
        "application/json-patch+json",
    )
    assert status == 200 and body["metadata"]["annotations"] == {"a": "b"}
    status, body, _ = raw.request(
        "PATCH",
        path,
        {"metadata": {"annotations": {"c": "d"}}},
        "application/strategic-merge-patch+json",
    )
    assert status == 200 and body["metadata"]["annotations"] == {"a": "b", "c": "d"}
    status, body, _ = raw.request(
        "PATCH",
        path,
        [{"op": "test", "path": "/data/k", "value": "nope"}],
        "application/json-patch+json",
    )
    assert status == 422


def test_strategic_merge_merges_containers_by_name(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    body = pod_body("p")
    body["spec"]["containers"].append({"name": "side", "image": "busybox:1"})
    core.create_namespaced_pod("a", body)
    patched = core.patch_namespaced_pod(
        "p",
        "a",
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "main"}, {"name": "side"}],
                "containers": [{"name": "side", "image": "busybox:2"}],
            }
        },
    )
    assert [(c.name, c.image) for c in patched.spec.containers] == [
        ("main", "nginx:1.25"),
        ("side", "busybox:2"),
    ]


def test_status_subresource_changes_only_status(core: client.CoreV1Api, raw: Raw) -> None:
    namespace(core, "a")
    core.create_namespaced_service(
        "a", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    )
    path = "/api/v1/namespaces/a/services/web/status"
    patch = {
        "metadata": {"labels": {"ignored": "yes"}},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
    }
    status, body, _ = raw.request("PATCH", path, patch, "application/merge-patch+json")
    assert status == 200
    assert body["status"]["loadBalancer"]["ingress"] == [{"ip": "1.2.3.4"}]
    assert "labels" not in body["metadata"]
    # and the main resource ignores status
    svc = core.read_namespaced_service("web", "a")
    svc.status = client.V1ServiceStatus(load_balancer=client.V1LoadBalancerStatus(ingress=[]))
    assert (
        core.replace_namespaced_service("web", "a", svc).status.load_balancer.ingress[0].ip
        == "1.2.3.4"
    )


def test_generation_follows_spec_changes(sim: KubeSim) -> None:
    net = client.NetworkingV1Api(client.ApiClient(client.Configuration(host=sim.url)))
    policy = {"metadata": {"name": "np"}, "spec": {"podSelector": {}}}
    created = net.create_namespaced_network_policy("default", policy)
    assert created.metadata.generation == 1
    relabelled = net.patch_namespaced_network_policy(
        "np", "default", {"metadata": {"labels": {"a": "b"}}}
    )
    assert relabelled.metadata.generation == 1
    changed = net.patch_namespaced_network_policy(
        "np", "default", {"spec": {"policyTypes": ["Ingress", "Egress"]}}
    )
    assert changed.metadata.generation == 2


def test_deletecollection_by_label(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_config_map(
            "a", {"metadata": {"name": name, "labels": {"tier": tier}}}
        )
    core.delete_collection_namespaced_config_map("a", label_selector="tier=web")
    assert [c.metadata.name for c in core.list_namespaced_config_map("a").items] == ["c"]


def test_secret_string_data_is_folded_into_data(core: client.CoreV1Api) -> None:
    secret = core.create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "stringData": {"password": "lab"}}
    )
    assert secret.data == {"password": "bGFi"}
    assert secret.type == "Opaque"


def test_dry_run_stores_nothing(raw: Raw, core: client.CoreV1Api) -> None:
    status, _, _ = raw.request(
        "POST", "/api/v1/namespaces/default/configmaps?dryRun=All", {"metadata": {"name": "dry"}}
    )
    assert status == 201
    assert core.list_namespaced_config_map("default").items == []


def test_strategic_merge_directives(core: client.CoreV1Api, raw: Raw) -> None:
    ports = [{"name": "ssh", "port": 22}, {"name": "http", "port": 80}]
    core.create_namespaced_service(
        "default", {"metadata": {"name": "web"}, "spec": {"ports": ports}}
    )
    path = "/api/v1/namespaces/default/services/web"
    smp = "application/strategic-merge-patch+json"
    patch = {
        "spec": {"ports": [{"port": 80, "$patch": "delete"}, {"name": "netconf", "port": 830}]}
    }
    status, body, _ = raw.request("PATCH", path, patch, smp)
    assert status == 200
    assert [p["port"] for p in body["spec"]["ports"]] == [22, 830]
    order = {"spec": {"$setElementOrder/ports": [{"port": 830}, {"port": 22}]}}
    assert [p["port"] for p in raw.request("PATCH", path, order, smp)[1]["spec"]["ports"]] == [
        830,
        22,
    ]
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"a": "1", "b": "2"}}})
    replace = {"metadata": {"labels": {"$patch": "replace", "c": "3"}}}
    assert raw.request("PATCH", path, replace, smp)[1]["metadata"]["labels"] == {"c": "3"}
    core.patch_namespaced_service("web", "default", {"metadata": {"finalizers": ["x/a", "x/b"]}})
    drop = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x/a"]}}
    assert raw.request("PATCH", path, drop, smp)[1]["metadata"]["finalizers"] == ["x/b"]


class SlowValidators:
    """The server's schema validators, made slow so that concurrent updates overlap."""

    def __init__(self, validators: SchemaValidators) -> None:
        self._validators = validators
        self.calls = 0

    def check(self, rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
        self.calls += 1
        time.sleep(0.01)
        return self._validators.check(rt, obj)


def test_concurrent_updates_are_all_applied_and_a_stale_one_conflicts(
    sim: KubeSim, core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Updates are validated outside the store's lock and made again if the object moved on, as
    the apiserver's GuaranteedUpdate does: nothing is lost, only a stale resourceVersion fails."""
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    slow = SlowValidators(sim.cluster.api.validators)
    monkeypatch.setattr(sim.cluster.api, "validators", slow)
    clients = [client.CoreV1Api(api_client(sim)) for _ in range(8)]

    def label(index: int) -> None:
        patch = {"metadata": {"labels": {f"l{index}": "x"}}}
        clients[index % len(clients)].patch_namespaced_config_map("cm", "default", patch)

    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(label, range(40)))
    labels = core.read_namespaced_config_map("cm", "default").metadata.labels
    assert labels == {f"l{index}": "x" for index in range(40)}
    assert slow.calls > 40  # some were made again on a newer object
    created.data = {"k": "v"}
    with pytest.raises(client.ApiException) as caught:
        core.replace_namespaced_config_map("cm", "default", created)
    assert caught.value.status == 409


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/api/v1/namespaces?limit=ten", 'strconv.ParseInt: parsing "ten": invalid syntax'),
        ("GET", "/api/v1/namespaces?limit=", 'strconv.ParseInt: parsing "": invalid syntax'),
        (
            "GET",
            "/api/v1/namespaces?limit=99999999999999999999",
            'strconv.ParseInt: parsing "99999999999999999999": value out of range',
        ),
        (
            "GET",
            "/api/v1/namespaces?watch=1&timeoutSeconds=1.5",
            'strconv.ParseInt: parsing "1.5": invalid syntax',
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/configmaps/cm?gracePeriodSeconds=soon",
            'strconv.ParseInt: parsing "soon": invalid syntax',
        ),
    ],
)
def test_malformed_query_parameters_are_bad_requests(
    core: client.CoreV1Api, raw: Raw, method: str, path: str, message: str
) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    status, body, _ = raw.request(method, path)
    assert (status, body["reason"], body["message"]) == (400, "BadRequest", message)


def test_boolean_query_parameters_are_false_only_for_0_and_false(raw: Raw) -> None:
    """runtime.Convert_Slice_string_To_bool: watch=yes is a watch, watch=False is a list."""
    status, body, headers = raw.request("GET", "/api/v1/namespaces?watch=False")
    assert (status, body["kind"]) == (200, "NamespaceList")
    status, _, headers = raw.request("GET", "/api/v1/namespaces?watch=yes&timeoutSeconds=1")
    assert status == 200 and headers["Transfer-Encoding"] == "chunked"


def test_delete_options_in_the_body_win_over_the_query(core: client.CoreV1Api, raw: Raw) -> None:
    namespace(core, "a")
    core.create_namespaced_pod("a", pod_body("p"))
    wait_for(lambda: core.read_namespaced_pod("p", "a").spec.node_name, what="bound")
    status, body, _ = raw.request(
        "DELETE", "/api/v1/namespaces/a/pods/p?gracePeriodSeconds=0", {"gracePeriodSeconds": 30}
    )
    assert status == 200 and body["metadata"]["deletionGracePeriodSeconds"] == 30
