"""The real control plane (kube-apiserver, kube-controller-manager and kube-scheduler v1.20.2 on
etcd), kubesim's nodes on it, and a lessonq stack whose workers hold the worker ServiceAccount's
token: one for all these tests, which the root conftest keeps on one xdist worker.

The binaries come from LESSONQ_KUBE_ASSETS, else `.cache/kube` (`python -m devstack.kube_assets
../shared/kube` fills it; .ci/run does). Without them these tests skip, saying so; when
LESSONQ_KUBE_ASSETS names a directory that lacks them, they fail: someone asked for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.kube_assets import AssetSettings, assets_dir, missing
from devstack.local import Processes, RedisServer
from devstack.realcluster import RealCluster, real_cluster
from kubesim.config import SimConfig
from tests.support.kube import ClusterView
from tests.support.settings import TEST_SETTINGS, TEST_SIM

NODES = ["node-1", "node-2", "node-3"]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    directory = assets_dir()
    lacking = missing(directory)
    if lacking:
        why = (
            f"no real control plane: {directory} lacks {', '.join(lacking)} "
            "(python -m devstack.kube_assets ../shared/kube, or set LESSONQ_KUBE_ASSETS)"
        )
        if AssetSettings().kube_assets is not None:
            pytest.fail(why)
        pytest.skip(why)
    sim = SimConfig(**{**TEST_SIM, "nodes": NODES})
    with real_cluster(directory, tmp_path_factory.mktemp("real-cluster"), sim) as running:
        yield running


@pytest.fixture(scope="session")
def admin_view(cluster: RealCluster) -> ClusterView:
    """The cluster as its admin sees it, for assertions."""
    return ClusterView(cluster.admin.configuration())


@pytest.fixture(scope="session")
def real_stack(
    cluster: RealCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processes]:
    """Redis and one worker on the real control plane (no kubesim anywhere)."""
    workdir = tmp_path_factory.mktemp("real-stack")
    redis = RedisServer(workdir / "redis").start()
    values = {**TEST_SETTINGS, "redis_url": redis.url, "kubeconfig": cluster.worker_kubeconfig}
    stack = Processes(workdir, values)
    try:
        stack.start_worker("worker0")
        yield stack
    finally:
        stack.stop()
        redis.stop()
