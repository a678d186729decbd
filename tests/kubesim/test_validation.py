"""Incoming objects are decoded and checked as the apiserver does: unknown fields and JSON types
(fieldValidation, 400), then schemas and the apiserver's own rules (422)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from kubesim import validation as v
from tests.kubesim.conftest import Raw, error_body, namespace, pod_body, wait_for

NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions"


def causes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["reason"], c["field"]) for c in body["details"]["causes"]]


CANNOT = 'Pod in version "v1" cannot be handled as a Pod: '


def typo_pod(name: str) -> dict[str, Any]:
    pod = pod_body(name, container={"imagePullPolicyy": "Always", "ports": [{"containerPort": 80}]})
    pod["spec"]["containers"][0]["ports"][0]["hostPorrt"] = 8080
    pod["spec"]["restartPolicyy"] = "Never"
    return pod


TYPOS = [
    'unknown field "spec.containers[0].imagePullPolicyy"',
    'unknown field "spec.containers[0].ports[0].hostPorrt"',
    'unknown field "spec.restartPolicyy"',
]


PODS = "/api/v1/namespaces/default/pods"


def test_unknown_fields_are_a_strict_decoding_error_by_default(raw: Raw) -> None:
    """A real apiserver does this with fieldValidation=Strict (its default is Warn). Raw HTTP: the
    official client refuses unknown fields itself."""
    for query in ("", "?fieldValidation=Strict"):
        status, body, _ = raw.request("POST", PODS + query, typo_pod("p"))
        assert status == 400
        assert body == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": CANNOT + "strict decoding error: " + ", ".join(TYPOS),
            "reason": "BadRequest",
            "code": 400,
        }


def test_field_validation_warn_and_ignore_drop_unknown_fields(raw: Raw) -> None:
    status, pod, headers = raw.request("POST", PODS + "?fieldValidation=Warn", typo_pod("warned"))
    assert status == 201
    assert headers["Warning"] == ", ".join(
        "299 - " + json.dumps(typo)
        for typo in TYPOS  # quoted, inner quotes escaped
    )
    assert "restartPolicyy" not in pod["spec"] and pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    status, _, headers = raw.request("POST", PODS + "?fieldValidation=Ignore", typo_pod("ignored"))
    assert status == 201 and "Warning" not in headers


def test_an_unknown_field_validation_is_invalid(raw: Raw) -> None:
    status, body, _ = raw.request(
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Loose",
        {"metadata": {"name": "c"}},
    )
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loose": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )
    assert body["details"] == {
        "group": "meta.k8s.io",
        "kind": "CreateOptions",
        "causes": [
            {
                "reason": "FieldValueNotSupported",
                "message": 'Unsupported value: "Loose": supported values: "", "Ignore", "Strict", '
                '"Warn"',
                "field": "fieldValidation",
            }
        ],
    }


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (
            {"ports": [{"containerPort": "eighty"}]},
            "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports"
            ".containerPort of type int32",
        ),
        (
            {"ports": [{"containerPort": 80.5}]},
            "json: cannot unmarshal number 80.5 into Go struct field ContainerPort.spec.containers"
            ".ports.containerPort of type int32",
        ),
        (
            {"ports": "80"},
            "json: cannot unmarshal string into Go struct field Container.spec.containers.ports of "
            "type []v1.ContainerPort",
        ),
        (
            {"readinessProbe": {"tcpSocket": {"port": True}}},
            "json: cannot unmarshal bool into Go struct field TCPSocketAction.spec.containers"
            ".readinessProbe.tcpSocket.port of type int32",
        ),
        (
            {"resources": {"limits": {"cpu": "lots"}}},
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?"
            "[0-9]*)$'",
        ),
    ],
)
def test_a_json_type_mismatch_is_a_decoding_error(
    raw: Raw, container: dict[str, Any], message: str
) -> None:
    """Whatever fieldValidation says: it is not an unknown field."""
    pod = pod_body("p", container=container)
    status, body, _ = raw.request("POST", PODS + "?fieldValidation=Ignore", pod)
    assert (status, body["reason"], body["message"]) == (400, "BadRequest", CANNOT + message)


def test_nulls_are_left_out(core: client.CoreV1Api, raw: Raw) -> None:
    body = {"metadata": {"name": "cm", "labels": None, "annotations": {"a": None}}, "data": None}
    status, created, _ = raw.request("POST", "/api/v1/namespaces/default/configmaps", body)
    assert status == 201
    assert "data" not in created and "labels" not in created["metadata"]
    assert created["metadata"]["annotations"] == {"a": ""}  # a map's null is its zero value


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
    path = "/api/v1/namespaces/default/configmaps/cm"
    status, body, _ = raw.request(
        "PATCH", path, {"metadata": {"labels": {"x": "-bad"}}}, "application/merge-patch+json"
    )
    assert status == 422
    status, body, _ = raw.request("PATCH", path, {"dataa": {}}, "application/merge-patch+json")
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == 'strict decoding error: unknown field "dataa"'
    status, body, _ = raw.request(
        "PATCH", f"{path}?fieldValidation=Ignore", {"dataa": {}}, "application/merge-patch+json"
    )
    assert status == 200 and "dataa" not in body


def test_a_patch_that_mistypes_a_field_is_invalid_on_the_patch(
    core: client.CoreV1Api, raw: Raw
) -> None:
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    status, body, _ = raw.request(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cm",
        {"data": {"k": 1}},
        "application/merge-patch+json",
    )
    patched = (
        '{"apiVersion":"v1","data":{"k":1},"kind":"ConfigMap","metadata":{"creationTimestamp":"'
        f'{created.metadata.creation_timestamp:%Y-%m-%dT%H:%M:%SZ}","name":"cm","namespace":'
        f'"default","resourceVersion":"{created.metadata.resource_version}","uid":'
        f'"{created.metadata.uid}"}}}}'
    )
    reason = "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["details"] == {
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {json.dumps(patched)}: {reason}",
                "field": "patch",
            }
        ]
    }
    assert (
        body["message"] == f' "" is invalid: patch: Invalid value: {json.dumps(patched)}: {reason}'
    )
    status, body, _ = raw.request(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cm",
        {"data": {"k": [1, "x"]}},
        "application/strategic-merge-patch+json",
    )
    assert status == 422
    assert body["details"]["causes"][0]["message"].startswith(
        'Invalid value: "map[data:map[k:[1 x]]]": '
    )


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
    assert (status, body["message"]) == (
        400,
        'NetworkAttachmentDefinition in version "v1" cannot be handled as a '
        'NetworkAttachmentDefinition: strict decoding error: unknown field "spec.confg"',
    )
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
    # a plain storage error, no Status: no reason, as kube-apiserver v1.20.2 answers it
    assert status == 500
    assert body["message"] == "resourceVersion should not be set on objects to be created"
    assert "reason" not in body


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


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {"conditions": [{"type": "lab ready", "status": "True"}]},
            [("FieldValueInvalid", "metadata.conditions[0].Type", v.QUALIFIED_NAME_MSG)],
        ),
        (
            {"conditions": [{"type": "example.com/LabReady"}]},
            [("FieldValueRequired", "status.conditions[0].status", "Required value")],
        ),
        (
            {"podIPs": [{"ip": "10.244.0.300"}]},
            [
                (
                    "FieldValueInvalid",
                    "status.podIPs[0]",
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            ],
        ),
        (
            {"hostIP": "172.18.0.2", "hostIPs": [{"ip": "172.18.0.3"}]},
            [("FieldValueInvalid", "status.hostIPs[0].ip", "must be equal to `hostIP`")],
        ),
        (
            {
                "containerStatuses": [
                    {
                        "name": "main",
                        "image": "nginx:1.25",
                        "imageID": "",
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {}},
                    }
                ]
            },
            [
                (
                    "FieldValueForbidden",
                    "status.containerStatuses[0].state",
                    "may not be transitioned to non-terminated state",
                )
            ],
        ),
    ],
)
def test_status_writes_are_validated(
    core: client.CoreV1Api, status: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    core.create_namespaced_pod("default", pod_body("p", restartPolicy="Never"))
    wait_for(
        lambda: core.read_namespaced_pod("p", "default").status.phase == "Succeeded",
        what="Succeeded",
    )
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_pod_status(
            "p", "default", {"status": status}, _content_type="application/merge-patch+json"
        )
    assert caught.value.status == 422
    found = error_body(caught.value)["details"]["causes"]
    assert [(c["reason"], c["field"]) for c in found] == [(r, f) for r, f, _ in expected]
    assert all(c["message"].endswith(m) for c, (_, _, m) in zip(found, expected, strict=True))


def test_a_status_write_may_set_any_phase(core: client.CoreV1Api) -> None:
    """ValidatePodStatusUpdate has no rule about the phase: an unknown one is stored."""
    core.create_namespaced_pod("default", pod_body("p"))
    patched = core.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Paused"}})
    assert patched.status.phase == "Paused"
