"""Incoming objects are checked as the apiserver checks them: schemas (strict) and name rules."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from kubesim import validation as v
from tests.kubesim.conftest import Raw, error_body, namespace, pod_body

NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions"


def causes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["reason"], c["field"]) for c in body["details"]["causes"]]


def test_unknown_field_is_refused_with_its_path(raw: Raw) -> None:
    pod = pod_body("p", container={"imagePullPolicyy": "Always"})
    status, body, _ = raw.request("POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["details"]["kind"] == "Pod" and body["details"]["name"] == "p"
    assert causes(body) == [("FieldValueInvalid", "spec.containers[0].imagePullPolicyy")]
    assert "spec.containers[0].imagePullPolicyy" in body["message"]


def test_wrong_type_is_refused(raw: Raw) -> None:
    pod = pod_body("p", container={"ports": [{"containerPort": "eighty"}]})
    status, body, _ = raw.request("POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 422
    assert causes(body) == [("FieldValueTypeInvalid", "spec.containers[0].ports[0].containerPort")]


def test_missing_required_fields(raw: Raw) -> None:
    status, body, _ = raw.request(
        "POST",
        "/api/v1/namespaces/default/pods",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"image": "x"}]}},
    )
    assert status == 422
    assert ("FieldValueRequired", "spec.containers[0].name") in causes(body)
    status, body, _ = raw.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {}})
    assert status == 422
    assert (
        body["details"]["causes"][0]["message"]
        == "Required value: name or generateName is required"
    )


@pytest.mark.parametrize(
    ("path", "name", "ok"),
    [
        ("/api/v1/namespaces", "lesson-1", True),
        ("/api/v1/namespaces", "lesson.1", False),  # namespaces: DNS-1123 label
        ("/api/v1/namespaces", "a" * 64, False),
        (
            "/api/v1/namespaces/default/services",
            "1web",
            False,
        ),  # services: DNS-1035, a letter first
        ("/api/v1/namespaces/default/services", "web-1", True),
        ("/api/v1/namespaces/default/configmaps", "a.b-c", True),  # subdomain
        ("/api/v1/namespaces/default/configmaps", "A", False),
        ("/api/v1/namespaces/default/configmaps", "-a", False),
    ],
)
def test_name_rules_per_kind(raw: Raw, path: str, name: str, ok: bool) -> None:
    body: dict[str, Any] = {"metadata": {"name": name}}
    if "services" in path:
        body["spec"] = {"ports": [{"port": 80}]}
    status, answer, _ = raw.request("POST", path, body)
    assert (status == 201) == ok, answer
    if not ok:
        assert ("FieldValueInvalid", "metadata.name") in causes(answer)


def test_service_name_message_is_dns1035(raw: Raw) -> None:
    _, body, _ = raw.request(
        "POST",
        "/api/v1/namespaces/default/services",
        {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}},
    )
    assert "a DNS-1035 label must consist of lower case alphanumeric characters" in body["message"]


@pytest.mark.parametrize(
    ("labels", "ok"),
    [
        ({"app": "web"}, True),
        ({"lessonq.io/instance": "prod-1"}, True),
        ({"app": ""}, True),
        ({"app": "-web"}, False),
        ({"app": "a" * 64}, False),
        ({"app": "has space"}, False),
        ({"Bad_Prefix/app": "x"}, False),
        ({"a/b/c": "x"}, False),
        ({"n" * 64: "x"}, False),
    ],
)
def test_label_keys_and_values(raw: Raw, labels: dict[str, str], ok: bool) -> None:
    status, body, _ = raw.request(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "cm", "labels": labels}},
    )
    assert (status == 201) == ok, body
    if not ok:
        assert all(field == "metadata.labels" for _, field in causes(body))


def test_name_on_update_must_match_the_url(core: client.CoreV1Api, raw: Raw) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    status, body, _ = raw.request(
        "PUT", "/api/v1/namespaces/default/configmaps/cm", {"metadata": {"name": "other"}}
    )
    assert status == 400
    assert (
        body["message"] == "the name of the object (other) does not match the name on the URL (cm)"
    )
    status, body, _ = raw.request(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cm",
        {"metadata": {"name": "other"}},
        "application/merge-patch+json",
    )
    assert status == 400


def test_patch_results_are_validated(core: client.CoreV1Api, raw: Raw) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    status, body, _ = raw.request(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cm",
        {"metadata": {"labels": {"x": "-bad"}}},
        "application/merge-patch+json",
    )
    assert status == 422
    status, body, _ = raw.request(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cm",
        {"dataa": {}},
        "application/merge-patch+json",
    )
    assert status == 422 and causes(body) == [("FieldValueInvalid", "dataa")]


def test_pod_spec_is_immutable_but_image_is_not(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    core.create_namespaced_pod("a", pod_body("p"))
    core.patch_namespaced_pod(
        "p", "a", {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}
    )
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_pod("p", "a", {"spec": {"hostname": "other"}})
    assert caught.value.status == 422
    assert error_body(caught.value)["details"]["causes"][0]["field"] == "spec"


def test_custom_resources_follow_their_crd_schema(raw: Raw) -> None:
    nad = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "link"},
    }
    status, body, _ = raw.request("POST", NAD_PATH, {**nad, "spec": {"config": {"type": "bridge"}}})
    assert status == 422
    assert causes(body) == [("FieldValueTypeInvalid", "spec.config")]
    status, body, _ = raw.request("POST", NAD_PATH, {**nad, "spec": {"confg": "{}"}})
    assert status == 422 and causes(body) == [("FieldValueInvalid", "spec.confg")]
    status, body, _ = raw.request(
        "POST",
        NAD_PATH,
        {**nad, "metadata": {"name": "link", "labels": {"bad key": "x"}}, "spec": {"config": "{}"}},
    )
    assert status == 422
    status, body, _ = raw.request("POST", NAD_PATH, {**nad, "spec": {"config": "{}"}})
    assert status == 201


def test_service_rules(raw: Raw) -> None:
    path = "/api/v1/namespaces/default/services"
    status, body, _ = raw.request("POST", path, {"metadata": {"name": "web"}, "spec": {}})
    assert status == 422 and causes(body) == [("FieldValueRequired", "spec.ports")]
    two = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}, {"port": 443}]}}
    status, body, _ = raw.request("POST", path, two)
    assert status == 422 and ("FieldValueRequired", "spec.ports[0].name") in causes(body)


def test_job_restart_policy_must_be_never_or_on_failure(raw: Raw) -> None:
    job = {
        "metadata": {"name": "cfg"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}},
    }
    status, body, _ = raw.request("POST", "/apis/batch/v1/namespaces/default/jobs", job)
    assert status == 422
    assert causes(body) == [("FieldValueNotSupported", "spec.template.spec.restartPolicy")]


def test_create_with_resource_version_is_refused(raw: Raw) -> None:
    status, body, _ = raw.request(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "cm", "resourceVersion": "5"}},
    )
    assert status == 500
    assert (
        body["message"]
        == "Internal error occurred: resourceVersion should not be set on objects to be created"
    )


def refused(core: client.CoreV1Api, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_pod("default", body)
    assert caught.value.status == 422
    answer = error_body(caught.value)
    assert answer["reason"] == "Invalid"
    return answer


def term(selector: dict[str, Any], topology_key: str = "kubernetes.io/hostname") -> dict[str, Any]:
    return {"labelSelector": selector, "topologyKey": topology_key}


REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
AFFINITY = f"spec.affinity.podAffinity.{REQUIRED}[0]"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"affinity": {"podAffinity": {REQUIRED: [term({"matchLabels": {"a": "b"}}, "")]}}},
            [
                (
                    "FieldValueRequired",
                    f"{AFFINITY}.topologyKey",
                    "Required value: can not be empty",
                ),
                (
                    "FieldValueInvalid",
                    f"{AFFINITY}.topologyKey",
                    'Invalid value: "": name part must be non-empty',
                ),
                (
                    "FieldValueInvalid",
                    f"{AFFINITY}.topologyKey",
                    f'Invalid value: "": {v.QUALIFIED_NAME_MSG}',
                ),
            ],
        ),
        (
            {
                "affinity": {
                    "podAntiAffinity": {
                        REQUIRED: [
                            term(
                                {
                                    "matchExpressions": [
                                        {"key": "a", "operator": "Contains", "values": ["b"]}
                                    ]
                                }
                            )
                        ]
                    }
                }
            },
            [
                (
                    "FieldValueInvalid",
                    f"spec.affinity.podAntiAffinity.{REQUIRED}[0].labelSelector.matchExpressions[0].operator",
                    'Invalid value: "Contains": not a valid selector operator',
                )
            ],
        ),
        (
            {
                "affinity": {
                    "podAffinity": {
                        REQUIRED: [term({"matchExpressions": [{"key": "a", "operator": "In"}]})]
                    }
                }
            },
            [
                (
                    "FieldValueRequired",
                    f"{AFFINITY}.labelSelector.matchExpressions[0].values",
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                )
            ],
        ),
        (
            {
                "affinity": {
                    "podAffinity": {
                        REQUIRED: [
                            term(
                                {
                                    "matchExpressions": [
                                        {"key": "a", "operator": "Exists", "values": ["b"]}
                                    ]
                                }
                            )
                        ]
                    }
                }
            },
            [
                (
                    "FieldValueForbidden",
                    f"{AFFINITY}.labelSelector.matchExpressions[0].values",
                    "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            ],
        ),
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        REQUIRED: {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "cpu", "operator": "Gt", "values": ["1", "2"]}
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            [
                (
                    "FieldValueRequired",
                    f"spec.affinity.nodeAffinity.{REQUIRED}.nodeSelectorTerms[0]"
                    ".matchExpressions[0].values",
                    "Required value: must be specified single value when `operator` is 'Lt' or "
                    "'Gt'",
                )
            ],
        ),
        (
            {"hostname": "vqfx.1"},
            [
                (
                    "FieldValueInvalid",
                    "spec.hostname",
                    'Invalid value: "vqfx.1": must not contain dots',
                )
            ],
        ),
        (
            {"hostname": "VQFX_1"},
            [
                (
                    "FieldValueInvalid",
                    "spec.hostname",
                    f'Invalid value: "VQFX_1": {v.DNS1123_LABEL_MSG}',
                )
            ],
        ),
        (
            {"securityContext": {"sysctls": [{"name": "net..ipv4", "value": "1"}]}},
            [
                (
                    "FieldValueInvalid",
                    "spec.securityContext.sysctls[0].name",
                    'Invalid value: "net..ipv4": must have at most 253 characters and match regex '
                    "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
                )
            ],
        ),
        (
            {
                "securityContext": {
                    "sysctls": [
                        {"name": "net.ipv4.ip_forward", "value": "1"},
                        {"name": "net.ipv4.ip_forward", "value": "0"},
                    ]
                }
            },
            [
                (
                    "FieldValueDuplicate",
                    "spec.securityContext.sysctls[1].name",
                    'Duplicate value: "net.ipv4.ip_forward"',
                )
            ],
        ),
        (
            {
                "hostNetwork": True,
                "securityContext": {"sysctls": [{"name": "net/ipv4/ip_forward", "value": "1"}]},
            },
            [
                (
                    "FieldValueInvalid",
                    "spec.securityContext.sysctls[0].name",
                    'Invalid value: "net/ipv4/ip_forward": may not be specified when '
                    "'hostNetwork' is true",
                )
            ],
        ),
    ],
)
def test_pod_spec_rules(
    core: client.CoreV1Api, spec: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    body = refused(core, pod_body("p", **spec))
    assert [(c["reason"], c["field"], c["message"]) for c in body["details"]["causes"]] == expected


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("a-very-long-port-name", ["must be no more than 15 characters"]),
        (
            "HTTP",
            [
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "must contain at least one letter (a-z)",
            ],
        ),
        ("8080", ["must contain at least one letter (a-z)"]),
        ("ssh--alt", ["must not contain consecutive hyphens"]),
        ("-ssh", ["must not begin or end with a hyphen"]),
    ],
)
def test_container_port_names_are_iana_service_names(
    core: client.CoreV1Api, name: str, messages: list[str]
) -> None:
    ports = [{"name": name, "containerPort": 22}]
    body = refused(core, pod_body("p", container={"ports": ports}))
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {name!r}: {m}".replace("'", '"'),
            "field": "spec.containers[0].ports[0].name",
        }
        for m in messages
    ]


def test_a_port_name_twice_in_a_container_is_refused_and_across_containers_warned(
    core: client.CoreV1Api,
) -> None:
    ports = [{"name": "ssh", "containerPort": 22}, {"name": "ssh", "containerPort": 2222}]
    body = refused(core, pod_body("p", container={"ports": ports}))
    assert causes(body) == [("FieldValueDuplicate", "spec.containers[0].ports[1].name")]
    pod = pod_body("q", container={"ports": ports[:1]})
    pod["spec"]["containers"].append({"name": "side", "image": "x", "ports": ports[1:]})
    _, status, headers = core.create_namespaced_pod_with_http_info("default", pod)
    assert status == 201
    assert headers["Warning"] == (
        '299 - "spec.containers[1].ports[0]: duplicate port name \\"ssh\\" with '
        "spec.containers[0].ports[0], services and probes that select ports by name will use "
        'spec.containers[0].ports[0]"'
    )
