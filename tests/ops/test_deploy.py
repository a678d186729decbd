"""deploy/: every manifest valid against the upstream Kubernetes schemas (strict), and wired
together: commands lessonq understands, real settings, selectors that select, least privilege."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from nodeagent.cli import build_parser as node_agent_parser
from scheduler.intake.gate import OPEN_PATHS
from scheduler.intake.service import PROBE_TIMEOUT
from tests.ops.commands import check_lessonq_command, check_settings
from tests.support.settings import REPO

DEPLOY = REPO / "deploy"
# What the Secrets hold, as settings.yaml says to make them.
SECRET_VALUES = {("lessonq-redis", "url"): "redis://:0123abcd@lessonq-redis:6379/0"}
LESSONQ_POD = ("app.kubernetes.io/part-of", "lessonq")


@cache
def manifests() -> tuple[dict[str, Any], ...]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return tuple(found)


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests() if m["kind"] == kind}


def secret_value(variable: dict[str, Any]) -> str:
    ref = variable["valueFrom"]["secretKeyRef"]
    return SECRET_VALUES.get((ref["name"], ref["key"]), "from-a-secret")


def secret_refs(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def lessonq_containers() -> dict[str, dict[str, Any]]:
    return {
        name: container
        for name, deployment in of_kind("Deployment").items()
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if container["image"] == "lessonq:latest"
    }


@pytest.mark.parametrize(
    "manifest", manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}"
)
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
        assert (
            pod["metadata"]["labels"].items()
            >= deployment["spec"]["selector"]["matchLabels"].items()
        )
        (container,) = pod["spec"]["containers"]
        if container["image"] == "lessonq:latest":
            commands[name] = check_lessonq_command(container["args"])
            env = {e["name"]: e.get("value") or secret_value(e) for e in container.get("env", [])}
            check_settings({**settings, **env})
            assert container["envFrom"] == [{"configMapRef": {"name": "lessonq-settings"}}]
    assert commands == {
        "lessonq-intake": "intake",
        "lessonq-worker": "worker",
        "lessonq-beat": "beat",
        "lessonq-flower": "flower",
    }
    assert deployments["lessonq-beat"]["spec"]["replicas"] == 1
    assert deployments["lessonq-beat"]["spec"]["strategy"]["type"] == "Recreate"


def test_only_the_workers_and_the_node_agent_hold_api_credentials() -> None:
    accounts = of_kind("ServiceAccount")
    assert set(accounts) == {"lessonq-worker", "lessonq-node-agent"}
    bindings = of_kind("ClusterRoleBinding")
    for name, account in accounts.items():
        meta = account["metadata"]
        assert bindings[name]["subjects"] == [
            {"kind": "ServiceAccount", "name": meta["name"], "namespace": meta["namespace"]}
        ]
        assert bindings[name]["roleRef"]["name"] == name and name in of_kind("ClusterRole")
    account = accounts["lessonq-worker"]["metadata"]
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


def test_only_lessonq_pods_reach_redis() -> None:
    redis = of_kind("Deployment")["lessonq-redis"]["spec"]["template"]
    (policy,) = [
        p
        for p in of_kind("NetworkPolicy").values()
        if p["spec"]["podSelector"]["matchLabels"].items() <= redis["metadata"]["labels"].items()
    ]
    assert policy["metadata"]["namespace"] == "lessonq" and policy["spec"]["policyTypes"] == [
        "Ingress"
    ]
    # One way in: pods labelled part-of lessonq, of the policy's namespace (no
    # namespaceSelector), on Redis's port.
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": dict([LESSONQ_POD])}}]
    (container,) = redis["spec"]["containers"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    assert {"name": "redis", "containerPort": 6379} in container["ports"]
    for name, deployment in of_kind("Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels.items() >= {LESSONQ_POD}, name
        assert deployment["metadata"]["namespace"] == "lessonq", name


def test_redis_wants_the_password_every_lessonq_pod_connects_with() -> None:
    (redis,) = of_kind("Deployment")["lessonq-redis"]["spec"]["template"]["spec"]["containers"]
    args = redis["args"]
    password = args[args.index("--requirepass") + 1]
    variable = password.removeprefix("$(").removesuffix(")")
    assert password == f"$({variable})"  # Kubernetes expands it from the container's env
    refs = secret_refs(redis)
    assert refs[variable] == {"name": "lessonq-redis", "key": "password"}
    assert redis["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]
    assert refs["REDISCLI_AUTH"] == refs[variable]  # the probe's password
    # The URL with the password is in the Secret, never in the ConfigMap.
    assert not any(
        name.endswith("REDIS_URL") for name in of_kind("ConfigMap")["lessonq-settings"]["data"]
    )
    for name, container in lessonq_containers().items():
        assert secret_refs(container)["LESSONQ_REDIS_URL"] == {
            "name": "lessonq-redis",
            "key": "url",
        }, name


def test_the_intake_takes_an_api_token_from_an_optional_secret() -> None:
    refs = {name: secret_refs(container) for name, container in lessonq_containers().items()}
    assert refs["lessonq-intake"]["LESSONQ_API_TOKEN"] == {
        "name": "lessonq-api",
        "key": "token",
        "optional": True,
    }
    assert all(
        "LESSONQ_API_TOKEN" not in found for name, found in refs.items() if name != "lessonq-intake"
    )


def test_prometheus_scrapes_the_intake_and_the_workers_where_they_serve_metrics() -> None:
    scraped = {}
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]
        annotations = pod["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") != "true":
            continue
        (container,) = pod["spec"]["containers"]
        ports = {p["containerPort"] for p in container["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports, name
        scraped[name] = annotations
    assert set(scraped) == {"lessonq-intake", "lessonq-worker"}
    # The intake's /metrics needs no token (Prometheus has none); it listens where scraped.
    intake = scraped["lessonq-intake"]
    assert intake["prometheus.io/path"] == "/metrics" and "/metrics" in OPEN_PATHS
    args = lessonq_containers()["lessonq-intake"]["args"]
    assert args[args.index("--port") + 1] == intake["prometheus.io/port"]
    worker = lessonq_containers()["lessonq-worker"]
    assert {e["name"]: e.get("value") for e in worker["env"]}["LESSONQ_METRICS_PORT"] == scraped[
        "lessonq-worker"
    ]["prometheus.io/port"]


_UNITS = {"m": 0.001, "": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def quantity(value: str | int) -> float:
    found = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert found is not None, value
    return float(found[1]) * _UNITS[found[2]]


def test_every_container_requests_and_is_limited_in_cpu_and_memory() -> None:
    containers = [
        (name, container)
        for kind in ("Deployment", "DaemonSet")
        for name, workload in of_kind(kind).items()
        for container in workload["spec"]["template"]["spec"]["containers"]
    ]
    assert len(containers) == 6
    for name, container in containers:
        resources = container["resources"]
        for resource in ("cpu", "memory"):
            request = quantity(resources["requests"][resource])
            assert 0 < request <= quantity(resources["limits"][resource]), (name, resource)


def test_the_intakes_readiness_probe_outlasts_its_redis_timeout() -> None:
    (intake,) = of_kind("Deployment")["lessonq-intake"]["spec"]["template"]["spec"]["containers"]
    assert intake["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert intake["readinessProbe"]["timeoutSeconds"] > PROBE_TIMEOUT


def test_the_node_agent_runs_on_every_node_with_net_admin_and_nothing_more() -> None:
    (agent,) = of_kind("DaemonSet").values()
    assert agent["metadata"]["namespace"] == "lessonq"
    pod = agent["spec"]["template"]
    assert pod["metadata"]["labels"].items() >= agent["spec"]["selector"]["matchLabels"].items()
    assert pod["metadata"]["labels"].items() >= {LESSONQ_POD}
    spec = pod["spec"]
    # The node's own interfaces and nftables; an identity of its own (overlay links), its
    # node's name from the downward API.
    assert spec["hostNetwork"] is True and "automountServiceAccountToken" not in spec
    assert spec["serviceAccountName"] == "lessonq-node-agent"
    (container,) = spec["containers"]
    assert container["image"] == "lessonq:latest"
    assert check_lessonq_command(container["args"]) == "node-agent"
    options = node_agent_parser().parse_args(container["args"][1:])
    assert not options.once and options.probe is None
    # The settings (log format) as every lessonq pod has them; no Redis, no secret.
    assert container["envFrom"] == [{"configMapRef": {"name": "lessonq-settings"}}]
    assert container["env"] == [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    ]
    check_settings(of_kind("ConfigMap")["lessonq-settings"]["data"])
    # Root in the container for NET_ADMIN to be effective, and that capability alone.
    assert container["securityContext"] == {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
    }
    # What it writes (the state file, the heartbeat) is on a volume: the root is read-only.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for path in (options.state, options.heartbeat):
        (mount,) = [m for m in mounts if path.is_relative_to(m)]
        assert "emptyDir" in volumes[mounts[mount]], path
    # Both probes ask the agent whether its last clean pass is recent enough.
    for probe in ("readinessProbe", "livenessProbe"):
        python, flag, module, *args = container[probe]["exec"]["command"]
        assert (python, flag, module) == ("python", "-m", "nodeagent")
        checked = node_agent_parser().parse_args(args)
        assert checked.heartbeat == options.heartbeat, probe
        # Several passes may fail in a row (an interface gone mid-pass) before it counts.
        assert checked.probe >= 5 * options.interval, probe
