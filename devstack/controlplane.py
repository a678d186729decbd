"""A real Kubernetes control plane on loopback, as envtest runs one: etcd on tmpfs, then
kube-apiserver (RBAC, token auth, a self-signed serving certificate and service-account keys made
at start), kube-controller-manager and kube-scheduler, from the binaries of `kube_assets`.

Nothing runs pods: `kubesim.nodes` simulates the nodes. Every process started here is stopped by
`stop()`, and its output is kept in the work directory for a failing test to show."""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import secrets
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import utils as k8s_utils
from kubernetes.client.exceptions import ApiException

from devstack.kube_assets import NAD_CRD, missing
from devstack.local import PORT_ATTEMPTS, PortTaken, free_port, port_taken, wait_for

ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_TOKEN_USER = "admin"
SERVICE_RANGE = "10.0.0.0/24"
START_TIMEOUT = 90.0  # a loaded 2-core machine: the apiserver alone takes 5-7 s when idle
TMPFS = Path("/dev/shm")
STOP_GRACE = 1.0


@dataclass
class Credentials:
    """How to reach the apiserver as one identity."""

    url: str
    ca_file: Path
    token: str

    def configuration(self) -> k8s.Configuration:
        configuration = k8s.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"authorization": f"Bearer {self.token}"}
        return configuration

    def client(self) -> k8s.ApiClient:
        return k8s.ApiClient(self.configuration())

    def write_kubeconfig(self, path: Path, user: str) -> Path:
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "lessonq-test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority": str(self.ca_file),
                    },
                }
            ],
            "users": [{"name": user, "user": {"token": self.token}}],
            "contexts": [{"name": user, "context": {"cluster": "lessonq-test", "user": user}}],
            "current-context": user,
        }
        path.write_text(yaml.safe_dump(kubeconfig))
        return path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_keys(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=kube-apiserver",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout",
        str(pki / "serving.key"),
        "-out",
        str(pki / "serving.crt"),
    )
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


@dataclass
class ControlPlane:
    """etcd and the three control-plane binaries of `assets`, their files under `workdir`."""

    assets: Path
    workdir: Path
    # users whose every request the apiserver's audit log records (`audit_events`)
    audited_users: tuple[str, ...] = ()
    tokens: dict[str, str] = field(default_factory=dict)  # user -> static token
    url: str = ""
    _processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    _etcd_data: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def admin(self) -> Credentials:
        return Credentials(self.url, self.pki / "serving.crt", self.tokens[ADMIN_TOKEN_USER])

    def start(self) -> ControlPlane:
        lacking = missing(self.assets)
        if lacking:
            raise FileNotFoundError(f"{self.assets} lacks {', '.join(lacking)}")
        self.assets, self.workdir = self.assets.resolve(), self.workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(PORT_ATTEMPTS - 1):
            try:
                return self._start_or_stop()
            except PortTaken:
                pass  # etcd's or the apiserver's free port was taken meanwhile: on others
        return self._start_or_stop()

    def _start_or_stop(self) -> ControlPlane:
        """Start everything, or stop what did start."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        _make_keys(self.pki)
        self.tokens = {ADMIN_TOKEN_USER: secrets.token_hex(20)}
        with (self.workdir / "tokens.csv").open("w", newline="") as handle:
            csv.writer(handle).writerow(
                [self.tokens[ADMIN_TOKEN_USER], ADMIN_TOKEN_USER, "admin-uid", "system:masters"]
            )
        etcd_url = self._start_etcd()
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        self._spawn(
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={self.pki / 'serving.crt'}",
            f"--tls-private-key-file={self.pki / 'serving.key'}",
            f"--cert-dir={self.pki}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={self.pki / 'sa.pub'}",
            f"--service-account-signing-key-file={self.pki / 'sa.key'}",
            f"--api-audiences={ISSUER}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            *self._audit_flags(),
        )
        http = urllib3.PoolManager(ca_certs=str(self.pki / "serving.crt"))
        wait_for(lambda: self._ready(http, "/readyz"), START_TIMEOUT, "kube-apiserver /readyz", 0.2)
        kubeconfig = self.admin.write_kubeconfig(self.workdir / "admin.kubeconfig", "admin")
        common = (
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--port=0",
            "--profiling=false",
        )
        self._spawn(
            "kube-controller-manager",
            *common,
            f"--service-account-private-key-file={self.pki / 'sa.key'}",
            f"--root-ca-file={self.pki / 'serving.crt'}",
            "--controllers=*",
            "--use-service-account-credentials=false",
        )
        self._spawn("kube-scheduler", *common)
        self._install_crd()

    def _audit_flags(self) -> list[str]:
        if not self.audited_users:
            return []
        policy = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [
                {"level": "Metadata", "users": list(self.audited_users)},
                {"level": "None"},
            ],
        }
        path = self.workdir / "audit-policy.yaml"
        path.write_text(yaml.safe_dump(policy))
        return [f"--audit-policy-file={path}", f"--audit-log-path={self.workdir / 'audit.log'}"]

    def audit_events(self) -> list[dict[str, Any]]:
        """The audited users' requests so far, one entry per request (its final stage)."""
        path = self.workdir / "audit.log"
        if not path.exists():
            return []
        final: dict[str, dict[str, Any]] = {}
        for line in path.read_text().splitlines():
            if line.strip():
                event = json.loads(line)
                final[event["auditID"]] = event  # a watch logs ResponseStarted, then Complete
        return list(final.values())

    def _start_etcd(self) -> str:
        # etcd fsyncs every write: on tmpfs that costs nothing, as envtest advises
        base = str(TMPFS) if TMPFS.is_dir() else None
        self._etcd_data = tempfile.TemporaryDirectory(prefix="lessonq-etcd-", dir=base)
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            f"--data-dir={self._etcd_data.name}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",
        )
        http = urllib3.PoolManager()
        wait_for(lambda: self._ready(http, "/health", url), START_TIMEOUT, "etcd /health", 0.1)
        return url

    def _ready(self, http: urllib3.PoolManager, path: str, base: str = "") -> bool:
        self._check_running()
        try:
            answer = http.request("GET", (base or self.url) + path, timeout=2.0, retries=False)
        except urllib3.exceptions.HTTPError:
            return False
        return answer.status == 200

    def _check_running(self) -> None:
        for name, process in self._processes:
            if process.poll() is not None:
                tail = self.log_tail(name)
                error = PortTaken if port_taken(tail) else RuntimeError
                raise error(f"{name} exited with {process.returncode}: {tail}")

    def _spawn(self, binary: str, *args: str) -> None:
        log = (self.workdir / f"{binary}.log").open("wb")
        process = subprocess.Popen(
            [str(self.assets / binary), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        self._processes.append((binary, process))

    def log_tail(self, binary: str, lines: int = 15) -> str:
        path = self.workdir / f"{binary}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _install_crd(self) -> None:
        crd = yaml.safe_load((self.assets / NAD_CRD).read_text())
        extensions = k8s.ApiextensionsV1Api(self.admin.client())
        extensions.create_custom_resource_definition(crd)

        def established() -> bool:
            found = extensions.read_custom_resource_definition(crd["metadata"]["name"])
            conditions = (found.status.conditions if found.status else None) or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        wait_for(established, START_TIMEOUT, "the NetworkAttachmentDefinition CRD", 0.1)

    def apply(self, documents: Sequence[dict[str, Any]]) -> None:
        """Create these objects as the admin (what `kubectl create -f` does)."""
        api = self.admin.client()
        for document in documents:
            k8s_utils.create_from_dict(api, document)

    def service_account_token(self, namespace: str, name: str) -> str:
        """The token the token controller made for a ServiceAccount (v1.20 makes one per
        account, in a Secret it names in the account's `secrets`)."""
        core = k8s.CoreV1Api(self.admin.client())

        def token() -> str:
            account = core.read_namespaced_service_account(name, namespace)
            for reference in account.secrets or []:
                if reference.name is None:
                    continue
                with contextlib.suppress(ApiException):
                    secret = core.read_namespaced_secret(reference.name, namespace)
                    if secret.data and secret.data.get("token"):
                        return base64.b64decode(secret.data["token"]).decode()
            return ""

        return wait_for(token, START_TIMEOUT, f"the token of {namespace}/{name}", 0.1)

    def stop(self) -> None:
        # Last started first, each gone before the next: an apiserver whose etcd went first
        # waits a minute for it. One still serving watches after a few seconds is killed:
        # nothing it holds (etcd on tmpfs) outlives the test.
        for _, process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()
        if self._etcd_data is not None:
            self._etcd_data.cleanup()
            self._etcd_data = None

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
