"""`python -m kubesim` and kubectl against it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from kubesim.config import SimConfig, build_arg_parser, config_from_args
from tests.kubesim.conftest import kubectl as run_kubectl
from tests.kubesim.conftest import needs_kubectl

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubesim",
            "--port",
            "0",
            "--nodes",
            "node-1,node-2",
            "--time-scale",
            "0.01",
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    try:
        yield first, kubeconfig, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_cli_prints_its_url_first_and_exits_cleanly_on_sigterm(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    first, kubeconfig, process = served
    assert first.startswith("kubesim listening on http://127.0.0.1:")
    url = first.rsplit(" ", 1)[1]
    config = yaml.safe_load(kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == url
    nodes = client.CoreV1Api(client.ApiClient(client.Configuration(host=url))).list_node().items
    assert [n.metadata.name for n in nodes] == ["node-1", "node-2"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_every_config_field_is_a_flag() -> None:
    flags = {action.dest for action in build_arg_parser()._actions}
    assert set(SimConfig.model_fields) <= flags
    config = config_from_args(
        [
            "--no-multus",
            "--runtime-classes",
            "kata,runc",
            "--image-profiles",
            '[{"pattern": "vqfx*", "boot_seconds": 90}]',
        ]
    )
    assert config.multus is False and config.runtime_classes == ["kata", "runc"]
    assert config.image_profiles[0].boot_seconds == 90


POD = """
apiVersion: v1
kind: Pod
metadata:
  name: linux1
  labels: {lesson: jsnapy}
spec:
  containers:
  - name: linux
    image: antidotelabs/utility:{tag}
    ports: [{containerPort: 22}]
"""


@needs_kubectl
def test_kubectl_get_apply_describe_delete(
    served: tuple[str, Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    _, kubeconfig, _ = served

    def kubectl(*args: str) -> str:
        return run_kubectl(kubeconfig, tmp_path, *args).stdout

    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD.replace("{tag}", "1"))
    assert "pod/linux1 created" in kubectl("apply", "-f", str(manifest))
    manifest.write_text(POD.replace("{tag}", "2"))
    assert "pod/linux1 configured" in kubectl("apply", "-f", str(manifest))
    assert (
        kubectl("get", "pod", "linux1", "-o", "jsonpath={.spec.containers[0].image}")
        == "antidotelabs/utility:2"
    )
    assert "linux1" in kubectl("get", "pods")
    assert "kubernetes.io/metadata.name=default" in kubectl("get", "namespaces", "--show-labels")
    described = kubectl("describe", "pod", "linux1")
    assert "Scheduled" in described and "Node:" in described
    assert 'pod "linux1" deleted' in kubectl("delete", "-f", str(manifest))
    assert "linux1" not in kubectl("get", "pods")
