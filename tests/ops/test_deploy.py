"""deploy/: every manifest valid against the upstream Kubernetes schemas (strict), and wired
together: commands lessonq understands, real settings, selectors that select, least privilege."""

from __future__ import annotations

from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.ops.commands import check_lessonq_command, check_settings
from tests.support.settings import REPO

DEPLOY = REPO / "deploy"


@cache
def manifests() -> tuple[dict[str, Any], ...]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return tuple(found)


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests() if m["kind"] == kind}


@pytest.mark.parametrize(
    "manifest", manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}")
def test_manifest_is_valid_upstream(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, latest_version(), strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_deployments_run_lessonq_commands_with_real_settings() -> None:
    deployments = of_kind("Deployment")
    settings = of_kind("ConfigMap")["lessonq-settings"]["data"]
    commands = {}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        assert pod["metadata"]["labels"].items() >= deployment["spec"]["selector"][
            "matchLabels"].items()
        (container,) = pod["spec"]["containers"]
        if container["image"] == "lessonq:latest":
            commands[name] = check_lessonq_command(container["args"])
            env = {e["name"]: e.get("value", "from-a-secret") for e in container.get("env", [])}
            check_settings({**settings, **env})
            assert container["envFrom"] == [{"configMapRef": {"name": "lessonq-settings"}}]
    assert commands == {"lessonq-intake": "intake", "lessonq-worker": "worker",
                        "lessonq-beat": "beat", "lessonq-flower": "flower"}
    assert deployments["lessonq-beat"]["spec"]["replicas"] == 1
    assert deployments["lessonq-beat"]["spec"]["strategy"]["type"] == "Recreate"


def test_only_the_workers_hold_api_credentials() -> None:
    account = of_kind("ServiceAccount")["lessonq-worker"]["metadata"]
    (binding,) = of_kind("ClusterRoleBinding").values()
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}]
    assert binding["roleRef"]["name"] in of_kind("ClusterRole")
    for name, deployment in of_kind("Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        if name == "lessonq-worker":
            assert spec["serviceAccountName"] == account["name"]
        else:
            assert spec["automountServiceAccountToken"] is False, name


def test_services_select_their_pods_and_ports() -> None:
    deployments = of_kind("Deployment")
    services = of_kind("Service")
    assert {"lessonq-intake", "lessonq-flower", "lessonq-redis"} <= set(services)
    for name, service in services.items():
        pod = deployments[name]["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, name
