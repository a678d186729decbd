"""The real control plane (kube-apiserver, kube-controller-manager and kube-scheduler v1.20.2 on
etcd), kubesim's nodes on it, and a lessonq stack whose workers hold the worker ServiceAccount's
token: one for all these tests, which the root conftest keeps on one xdist worker.

The binaries come from LESSONQ_KUBE_ASSETS, else ~/.cache/lessonq/kube (`make kube-assets` fills it;
.ci/run does). Without them these tests skip, saying so; when LESSONQ_KUBE_ASSETS names a
directory that lacks them, they fail: someone asked for them. With LESSONQ_TEST_KUBECONFIG the
tests that need no test controls run on that cluster instead (README)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.kube_assets import AssetSettings, assets_dir, missing
from devstack.local import Processes, RedisServer
from devstack.realcluster import RealCluster, real_cluster
from kubesim.config import SimConfig
from tests.support.kube import ClusterView
from tests.support.settings import TEST_SETTINGS, TEST_SIM

NODES = ["node-1", "node-2", "node-3"]
# The VNIs the real stack's overlay lessons get.
OVERLAY_VNIS = range(20000, 20032)


@dataclass
class Target:
    """Where these tests run: the control plane started here (`started`), or a cluster of your
    own named by LESSONQ_TEST_KUBECONFIG, whose identity is both the workers' and the checks'."""

    admin: k8s.Configuration
    worker_kubeconfig: Path
    started: RealCluster | None


class TargetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LESSONQ_")

    test_kubeconfig: Path | None = None


def _own_cluster(kubeconfig: Path) -> Target:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    return Target(configuration, kubeconfig, None)


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    own = TargetSettings().test_kubeconfig
    if own is not None:
        yield _own_cluster(own)
        return
    directory = assets_dir()
    lacking = missing(directory)
    if lacking:
        why = (
            f"no real control plane: {directory} lacks {', '.join(lacking)} "
            "(make kube-assets, or set LESSONQ_KUBE_ASSETS)"
        )
        if AssetSettings().kube_assets is not None:
            pytest.fail(why)
        pytest.skip(why)
    # kubesim's simulated node agents leave the lessons' overlay VNIs to lessonq's own agent
    # (its cluster side, as its own ServiceAccount: test_lessons.py).
    sim = SimConfig(**{**TEST_SIM, "nodes": NODES, "link_agent_refused_vnis": list(OVERLAY_VNIS)})
    with real_cluster(directory, tmp_path_factory.mktemp("real-cluster"), sim) as running:
        yield Target(running.admin.configuration(), running.worker_kubeconfig, running)


@pytest.fixture(scope="session")
def cluster(target: Target) -> RealCluster:
    """The control plane started here, for the tests that need its controls (its nodes, its
    audit log, changing a cluster-wide object)."""
    if target.started is None:
        pytest.skip("needs the control plane the tests start (not LESSONQ_TEST_KUBECONFIG)")
    return target.started


@pytest.fixture(scope="session")
def admin_view(target: Target) -> ClusterView:
    """The cluster as its admin sees it, for assertions."""
    return ClusterView(target.admin)


@pytest.fixture(scope="session")
def real_stack(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """Redis and one worker on the real cluster (no kubesim anywhere)."""
    workdir = tmp_path_factory.mktemp("real-stack")
    redis = RedisServer(workdir / "redis").start()
    values = {
        **TEST_SETTINGS,
        "redis_url": redis.url,
        "kubeconfig": target.worker_kubeconfig,
        "vni_range": f"{OVERLAY_VNIS.start}-{OVERLAY_VNIS.stop - 1}",
    }
    stack = Processes(workdir, values)
    try:
        stack.start_worker("worker0")
        yield stack
    finally:
        stack.stop()
        redis.stop()
