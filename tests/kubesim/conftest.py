"""Fixtures for kubesim's own tests: a fresh simulated cluster per test, spoken to over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from kubernetes import client

from kubesim import KubeSim

T = TypeVar("T")
FAST = 0.01  # time_scale: a 2 s boot takes 20 ms


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(time_scale=FAST, probe_seconds=1.0) as running:
        yield running


def api_client(sim: KubeSim) -> client.ApiClient:
    return client.ApiClient(client.Configuration(host=sim.url))


@pytest.fixture
def core(sim: KubeSim) -> client.CoreV1Api:
    return client.CoreV1Api(api_client(sim))


@pytest.fixture
def custom(sim: KubeSim) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client(sim))


@pytest.fixture
def batch(sim: KubeSim) -> client.BatchV1Api:
    return client.BatchV1Api(api_client(sim))


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll until `check` returns something truthy; the bound only stops a broken test hanging."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Raw:
    """Plain HTTP for what the typed client hides: status codes, headers, unknown fields."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, http.client.HTTPMessage]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(
            method, path, body=payload, headers={"Content-Type": content_type, **(headers or {})}
        )
        response = connection.getresponse()
        data = response.read()
        connection.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode()
        return response.status, parsed, response.headers


@pytest.fixture
def raw(sim: KubeSim) -> Raw:
    return Raw(sim.url)


def namespace(core: client.CoreV1Api, name: str) -> client.V1Namespace:
    return core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))


def pod_body(name: str, image: str = "nginx:1.25", **spec: Any) -> dict[str, Any]:
    labels = spec.pop("labels", None)
    annotations = spec.pop("annotations", None)
    container = {"name": "main", "image": image, **spec.pop("container", {})}
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [container], **spec},
    }


def error_body(exc: client.ApiException) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(exc.body)
    return loaded


needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not installed"
)


def kubectl(
    kubeconfig: Path, home: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run kubectl against a kubesim (its own HOME keeps the caches apart); by default it must
    succeed."""
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done
