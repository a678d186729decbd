"""A real control plane ready for lessonq: the binaries' control plane, kubesim's nodes on it,
and lessonq's namespace, worker RBAC (deploy/rbac.yaml) and node agent RBAC (the identity in
deploy/node-agent.yaml) applied, with a kubeconfig holding the worker ServiceAccount's own token
and the node agent's credentials: every call a ClusterRole does not grant is a 403."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.controlplane import ControlPlane, Credentials
from kubesim.config import SimConfig
from kubesim.nodes import Endpoint, SimulatedNodes

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RBAC = DEPLOY / "rbac.yaml"
NODE_AGENT = DEPLOY / "node-agent.yaml"
IDENTITY = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")


@dataclass
class RealCluster:
    plane: ControlPlane
    nodes: SimulatedNodes
    worker: Credentials  # lessonq's worker ServiceAccount, whose requests are audited
    worker_kubeconfig: Path
    node_agent: Credentials  # the node agent's ServiceAccount, audited too

    @property
    def admin(self) -> Credentials:
        return self.plane.admin

    def worker_requests(self) -> list[dict[str, Any]]:
        """Every request the worker ServiceAccount has made (audit events: verb, objectRef,
        responseStatus)."""
        return self._requests_of(RBAC)

    def node_agent_requests(self) -> list[dict[str, Any]]:
        """Every request the node agent's ServiceAccount has made."""
        return self._requests_of(NODE_AGENT)

    def _requests_of(self, manifests: Path) -> list[dict[str, Any]]:
        user = _username(*_account(manifests))
        return [e for e in self.plane.audit_events() if e["user"]["username"] == user]


def _account(manifests: Path) -> tuple[str, str]:
    """The namespace and name of the ServiceAccount a file of manifests holds."""
    for document in yaml.safe_load_all(manifests.read_text()):
        if document["kind"] == "ServiceAccount":
            return document["metadata"]["namespace"], document["metadata"]["name"]
    raise ValueError(f"{manifests}: no ServiceAccount")


def _username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def _identity(manifests: Path) -> list[dict[str, Any]]:
    """A file's ServiceAccount, ClusterRole and binding (not what runs: no DaemonSet here)."""
    return [d for d in yaml.safe_load_all(manifests.read_text()) if d["kind"] in IDENTITY]


@contextmanager
def real_cluster(assets: Path, workdir: Path, sim: SimConfig) -> Iterator[RealCluster]:
    """Everything started in `workdir`, and stopped after."""
    namespace, account = _account(RBAC)
    agent_account = _account(NODE_AGENT)
    audited = (_username(namespace, account), _username(*agent_account))
    with ControlPlane(assets, workdir / "control-plane", audited_users=audited) as plane:
        admin = plane.admin
        with SimulatedNodes(Endpoint(admin.url, admin.token, admin.ca_file), sim) as nodes:
            plane.apply(
                [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
            )
            plane.apply(_identity(RBAC) + _identity(NODE_AGENT))
            worker = Credentials(
                admin.url, admin.ca_file, plane.service_account_token(namespace, account)
            )
            agent = Credentials(
                admin.url, admin.ca_file, plane.service_account_token(*agent_account)
            )
            kubeconfig = worker.write_kubeconfig(workdir / "worker.kubeconfig", account)
            yield RealCluster(plane, nodes, worker, kubeconfig, agent)
