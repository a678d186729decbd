"""ConfigMaps and Secrets are refused as ValidateConfigMap and ValidateSecret refuse them (sizes,
keys, types, immutability), and so are the pod volumes and environment that use them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from kubernetes import client

from kubesim.decoding import base64_error, base64_size
from tests.kubesim.conftest import Raw, error_body, pod_body

MIB = 1024 * 1024
TOO_LONG = f"Too long: may not be more than {MIB} bytes"
KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"
PODS = "/api/v1/namespaces/default/pods"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def config_map(name: str, data: dict[str, str] | None = None, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name}, **more}
    if data is not None:
        body["data"] = data
    return body


def refusal(raw: Raw, path: str, body: dict[str, Any]) -> tuple[str, list[tuple[str, ...]]]:
    """The message of a 422, and its causes as (reason, field, message)."""
    status, answer, _ = raw.request("POST", path, body)
    assert (status, answer["reason"]) == (422, "Invalid"), answer
    causes = [(c["reason"], c["field"], c["message"]) for c in answer["details"]["causes"]]
    return answer["message"], causes


def test_a_config_map_may_hold_one_mebibyte_of_values(core: client.CoreV1Api, raw: Raw) -> None:
    """Values count, text in UTF-8 bytes and binary decoded; keys do not."""
    long_key = "k" * 253
    core.create_namespaced_config_map("default", config_map("full", {long_key: "x" * MIB}))
    # é is two bytes: one character fewer than the limit is the limit in bytes
    core.create_namespaced_config_map("default", config_map("utf8", {"a": "x" * (MIB - 2) + "é"}))
    # the base64 text is far over the limit, the bytes it holds are not
    binary = {"blob": b64(b"\0" * 700_000)}
    core.create_namespaced_config_map(
        "default", config_map("mixed", {"text": "x" * 300_000}, binaryData=binary)
    )
    message, causes = refusal(raw, CONFIGMAPS, config_map("over", {"a": "x" * (MIB - 1) + "é"}))
    assert message == f'ConfigMap "over" is invalid: []: {TOO_LONG}'
    assert causes == [("FieldValueTooLong", "[]", TOO_LONG)]
    over = config_map("over", {"text": "x" * 400_000}, binaryData={"blob": b64(b"\0" * 648_577)})
    assert refusal(raw, CONFIGMAPS, over)[1] == [("FieldValueTooLong", "[]", TOO_LONG)]


def test_an_update_past_the_limit_is_refused_too(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", config_map("files", {"a": "x"}))
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_config_map("files", "default", {"data": {"b": "x" * MIB}})
    assert caught.value.status == 422
    assert error_body(caught.value)["details"]["causes"][0]["field"] == "[]"


def test_config_map_keys(raw: Raw) -> None:
    body = config_map(
        "keys",
        {"a/b": "1", "..": "2", "..x": "3", "k" * 254: "4", "both": "5", "ok.key_-1": "6"},
        binaryData={"both": b64(b"5"), "bad key": b64(b"6")},
    )
    message, causes = refusal(raw, CONFIGMAPS, body)
    long_key = "k" * 254
    assert causes == [
        ("FieldValueInvalid", "data[a/b]", f'Invalid value: "a/b": {KEY_MSG}'),
        ("FieldValueInvalid", "data[..]", "Invalid value: \"..\": must not be '..'"),
        ("FieldValueInvalid", "data[..x]", "Invalid value: \"..x\": must not start with '..'"),
        (
            "FieldValueInvalid",
            f"data[{long_key}]",
            f'Invalid value: "{long_key}": must be no more than 253 characters',
        ),
        (
            "FieldValueInvalid",
            "data[both]",
            'Invalid value: "both": duplicate of key present in binaryData',
        ),
        ("FieldValueInvalid", "binaryData[bad key]", f'Invalid value: "bad key": {KEY_MSG}'),
    ]
    assert message.startswith('ConfigMap "keys" is invalid: [data[a/b]: Invalid value: "a/b": ')


def test_an_immutable_config_map_keeps_its_data(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", config_map("fixed", {"a": "1"}, immutable=True))
    core.patch_namespaced_config_map("fixed", "default", {"metadata": {"labels": {"x": "y"}}})
    with pytest.raises(client.ApiException) as caught:
        patch = {"data": {"a": "2"}, "immutable": False}
        core.patch_namespaced_config_map("fixed", "default", patch)
    causes = error_body(caught.value)["details"]["causes"]
    immutable = "Forbidden: field is immutable when `immutable` is set"
    assert [(c["field"], c["message"]) for c in causes] == [
        ("immutable", immutable),
        ("data", immutable),
    ]


def secret(name: str, **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, **fields}


def test_a_secret_may_hold_one_mebibyte_of_decoded_data(core: client.CoreV1Api, raw: Raw) -> None:
    core.create_namespaced_secret("default", secret("full", data={"key": b64(b"\1" * MIB)}))
    core.create_namespaced_secret(
        "default", secret("split", data={"a": b64(b"\1" * (MIB - 10))}, stringData={"b": "x" * 10})
    )
    message, causes = refusal(raw, SECRETS, secret("over", data={"key": b64(b"\1" * (MIB + 1))}))
    assert message == f'Secret "over" is invalid: data: {TOO_LONG}'
    assert causes == [("FieldValueTooLong", "data", TOO_LONG)]
    # stringData is folded into data before the count
    folded = secret("folded", data={"a": b64(b"\1" * MIB)}, stringData={"b": "x"})
    assert refusal(raw, SECRETS, folded)[1] == [("FieldValueTooLong", "data", TOO_LONG)]
    bad_key = secret("keys", stringData={"user name": "x"})
    assert refusal(raw, SECRETS, bad_key)[1] == [
        ("FieldValueInvalid", "data[user name]", f'Invalid value: "user name": {KEY_MSG}')
    ]


def test_secret_data_must_be_base64(raw: Raw) -> None:
    status, body, _ = raw.request("POST", SECRETS, secret("bad", data={"password": "abc!"}))
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'
    )
    status, body, _ = raw.request("POST", CONFIGMAPS, config_map("bad", binaryData={"a": "YQ"}))
    assert body["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: illegal base64 data at input '
        "byte 0"
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", None),
        ("YWJj", None),
        ("YWI=", None),
        ("YQ==", None),
        ("YWJj\nZGVm\n", None),
        ("YQ", 0),
        ("YQ=", 3),
        ("Y===", 1),
        ("YQ==YQ==", 4),
        ("YQ=x", 2),
        ("YW Jj", 2),
    ],
)
def test_base64_is_read_as_go_reads_it(text: str, error: int | None) -> None:
    assert base64_error(text) == error
    if error is None:
        assert base64_size(text) == len(base64.b64decode(text))


def test_secret_types_require_their_keys(raw: Raw) -> None:
    basic = secret("basic", type="kubernetes.io/basic-auth", stringData={"other": "x"})
    assert refusal(raw, SECRETS, basic)[1] == [
        ("FieldValueRequired", "data[username]", "Required value"),
        ("FieldValueRequired", "data[password]", "Required value"),
    ]
    tls = secret("tls", type="kubernetes.io/tls", stringData={"tls.crt": "x"})
    assert refusal(raw, SECRETS, tls)[1] == [
        ("FieldValueRequired", "data[tls.key]", "Required value")
    ]
    user_only = secret("user", type="kubernetes.io/basic-auth", stringData={"username": "x"})
    assert raw.request("POST", SECRETS, user_only)[0] == 201


def test_a_secret_keeps_its_type(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", secret("creds", stringData={"username": "x"}))
    # a replace that leaves the type out gets the default, Opaque: no change
    core.replace_namespaced_secret("creds", "default", secret("creds", stringData={"a": "b"}))
    with pytest.raises(client.ApiException) as caught:
        core.patch_namespaced_secret("creds", "default", {"type": "kubernetes.io/basic-auth"})
    # the update's own rule first, then those of any Secret, as ValidateSecretUpdate orders them
    causes = error_body(caught.value)["details"]["causes"]
    assert [(c["field"], c["message"]) for c in causes] == [
        ("type", 'Invalid value: "kubernetes.io/basic-auth": field is immutable'),
        ("data[username]", "Required value"),
        ("data[password]", "Required value"),
    ]


def test_a_body_over_three_mebibytes_is_too_large(raw: Raw) -> None:
    body = config_map("huge", {"a": "x" * (3 * MIB)})
    status, answer, _ = raw.request("POST", CONFIGMAPS, body)
    assert (status, answer["reason"], answer["message"]) == (
        413,
        "RequestEntityTooLarge",
        "Request entity too large: limit is 3145728",
    )


# pod volumes and environment


def lesson_pod(volume: dict[str, Any], **container: Any) -> dict[str, Any]:
    mounts = [{"name": "lesson", "mountPath": "/antidote"}]
    pod = pod_body("p", container={"volumeMounts": mounts, **container})
    pod["spec"]["volumes"] = [{"name": "lesson", **volume}]
    return pod


# a volume with a problem is no volume to mount (ValidateVolumes keeps only the sound ones)
UNMOUNTABLE = (
    "FieldValueNotFound",
    "spec.containers[0].volumeMounts[0].name",
    'Not found: "lesson"',
)


def items(*paths: str) -> dict[str, Any]:
    return {"configMap": {"name": "files", "items": [{"key": "k", "path": p} for p in paths]}}


def test_config_map_item_paths_stay_inside_the_volume(raw: Raw) -> None:
    pod = lesson_pod(items("stage1/configs/vqfx1", "/etc/passwd", "../x", "a/../b", "..data", ".."))
    message, causes = refusal(raw, PODS, pod)
    where = "spec.volumes[0].configMap.items[{}].path"
    invalid = "FieldValueInvalid"
    assert causes == [
        (invalid, where.format(1), 'Invalid value: "/etc/passwd": must be a relative path'),
        (invalid, where.format(2), "Invalid value: \"../x\": must not contain '..'"),
        (invalid, where.format(3), "Invalid value: \"a/../b\": must not contain '..'"),
        (invalid, where.format(4), "Invalid value: \"..data\": must not start with '..'"),
        (invalid, where.format(5), "Invalid value: \"..\": must not contain '..'"),
        (invalid, where.format(5), "Invalid value: \"..\": must not start with '..'"),
        UNMOUNTABLE,
    ]
    assert message.startswith('Pod "p" is invalid: [spec.volumes[0].configMap.items[1].path: ')


def test_config_map_volume_sources(raw: Raw) -> None:
    source = {"defaultMode": 512, "items": [{"key": "", "path": "", "mode": -1}]}
    _, causes = refusal(raw, PODS, lesson_pod({"configMap": source}))
    where = "spec.volumes[0].configMap"
    mode_msg = "must be a number between 0 and 0777 (octal), both inclusive"
    assert causes == [
        ("FieldValueRequired", f"{where}.name", "Required value"),
        ("FieldValueInvalid", f"{where}.defaultMode", f"Invalid value: 512: {mode_msg}"),
        ("FieldValueRequired", f"{where}.items[0].key", "Required value"),
        ("FieldValueRequired", f"{where}.items[0].path", "Required value"),
        ("FieldValueInvalid", f"{where}.items[0].mode", f"Invalid value: -1: {mode_msg}"),
        UNMOUNTABLE,
    ]
    two = {"configMap": {"name": "files"}, "secret": {"secretName": "creds"}}
    _, causes = refusal(raw, PODS, lesson_pod(two))
    assert causes == [
        (
            "FieldValueForbidden",
            "spec.volumes[0].configMap",
            "Forbidden: may not specify more than 1 volume type",
        ),
        UNMOUNTABLE,
    ]


def test_volume_mounts_name_volumes(raw: Raw) -> None:
    pod = lesson_pod({"configMap": {"name": "files"}})
    pod["spec"]["containers"][0]["volumeMounts"] += [
        {"name": "nope", "mountPath": "/antidote"},
        {"name": "lesson", "mountPath": "/x", "subPath": "../up"},
    ]
    _, causes = refusal(raw, PODS, pod)
    where, invalid = "spec.containers[0].volumeMounts", "FieldValueInvalid"
    assert causes == [
        ("FieldValueNotFound", f"{where}[1].name", 'Not found: "nope"'),
        (invalid, f"{where}[1].mountPath", 'Invalid value: "/antidote": must be unique'),
        # on the list, not the mount: upstream passes the list's path here
        (invalid, f"{where}.subPath", "Invalid value: \"../up\": must not contain '..'"),
    ]


def test_volume_defaults(core: client.CoreV1Api) -> None:
    pod = lesson_pod({"configMap": {"name": "files"}})
    pod["spec"]["volumes"].append({"name": "scratch"})
    pod["spec"]["containers"][0]["env"] = [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    ]
    created = core.create_namespaced_pod("default", pod)
    assert created.spec.volumes[0].config_map.default_mode == 420
    assert created.spec.volumes[1].empty_dir == client.V1EmptyDirVolumeSource()
    assert created.spec.containers[0].env[0].value_from.field_ref.api_version == "v1"


def test_environment_from_secrets(raw: Raw) -> None:
    ref = {"secretKeyRef": {"name": "creds", "key": ""}}
    env = [
        {"name": "USERNAME", "valueFrom": ref},
        {"name": "A=B", "value": "x"},
        {"name": "NONE", "valueFrom": {}},
        {"name": "BOTH", "value": "x", "valueFrom": {"secretKeyRef": {"name": "c", "key": "k"}}},
        {"name": "BAD", "valueFrom": {"configMapKeyRef": {"name": "Files", "key": "a/b"}}},
    ]
    _, causes = refusal(raw, PODS, pod_body("p", container={"env": env}))
    where = "spec.containers[0].env"
    subdomain = (
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
        "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    assert causes == [
        ("FieldValueRequired", f"{where}[0].valueFrom.secretKeyRef.key", "Required value"),
        (
            "FieldValueInvalid",
            f"{where}[1].name",
            'Invalid value: "A=B": a valid environment variable name must consist only of '
            "printable ASCII characters other than '='",
        ),
        (
            "FieldValueInvalid",
            f"{where}[2].valueFrom",
            'Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, '
            "`configMapKeyRef` or `secretKeyRef`",
        ),
        (
            "FieldValueInvalid",
            f"{where}[3].valueFrom",
            'Invalid value: "": may not be specified when `value` is not empty',
        ),
        (
            "FieldValueInvalid",
            f"{where}[4].valueFrom.configMapKeyRef.name",
            f'Invalid value: "Files": {subdomain}',
        ),
        (
            "FieldValueInvalid",
            f"{where}[4].valueFrom.configMapKeyRef.key",
            f'Invalid value: "a/b": {KEY_MSG}',
        ),
    ]


def test_a_job_template_is_checked_as_a_pod(raw: Raw) -> None:
    spec = lesson_pod(items("/abs"))["spec"]
    spec["restartPolicy"] = "Never"
    job = {"metadata": {"name": "cfg"}, "spec": {"template": {"spec": spec}}}
    _, causes = refusal(raw, "/apis/batch/v1/namespaces/default/jobs", job)
    where = "spec.template.spec"
    assert causes == [
        (
            "FieldValueInvalid",
            f"{where}.volumes[0].configMap.items[0].path",
            'Invalid value: "/abs": must be a relative path',
        ),
        (UNMOUNTABLE[0], f"{where}.containers[0].volumeMounts[0].name", UNMOUNTABLE[2]),
    ]
