"""A real control plane ready for lessonq: the binaries' control plane, kubesim's nodes on it,
and lessonq's namespace and worker RBAC (deploy/rbac.yaml) applied, with a kubeconfig holding
the worker ServiceAccount's own token: every call the ClusterRole does not grant is a 403."""

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

RBAC = Path(__file__).resolve().parent.parent / "deploy" / "rbac.yaml"


@dataclass
class RealCluster:
    plane: ControlPlane
    nodes: SimulatedNodes
    worker: Credentials  # lessonq's worker ServiceAccount, whose requests are audited
    worker_kubeconfig: Path

    @property
    def admin(self) -> Credentials:
        return self.plane.admin

    def worker_requests(self) -> list[dict[str, Any]]:
        """Every request the worker ServiceAccount has made (audit events: verb, objectRef,
        responseStatus)."""
        return self.plane.audit_events()


def _worker_account() -> tuple[str, str]:
    for document in yaml.safe_load_all(RBAC.read_text()):
        if document["kind"] == "ServiceAccount":
            return document["metadata"]["namespace"], document["metadata"]["name"]
    raise ValueError(f"{RBAC}: no ServiceAccount")


@contextmanager
def real_cluster(assets: Path, workdir: Path, sim: SimConfig) -> Iterator[RealCluster]:
    """Everything started in `workdir`, and stopped after."""
    namespace, account = _worker_account()
    audited = (f"system:serviceaccount:{namespace}:{account}",)
    with ControlPlane(assets, workdir / "control-plane", audited_users=audited) as plane:
        admin = plane.admin
        with SimulatedNodes(Endpoint(admin.url, admin.token, admin.ca_file), sim) as nodes:
            plane.apply(
                [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
            )
            plane.apply(list(yaml.safe_load_all(RBAC.read_text())))
            worker = Credentials(
                admin.url, admin.ca_file, plane.service_account_token(namespace, account)
            )
            kubeconfig = worker.write_kubeconfig(workdir / "worker.kubeconfig", account)
            yield RealCluster(plane, nodes, worker, kubeconfig)
