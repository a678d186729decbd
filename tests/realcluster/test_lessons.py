"""lessonq end to end on the real control plane, its workers holding the worker ServiceAccount's
token (deploy/rbac.yaml): any call the ClusterRole does not grant is a 403 and fails a lesson."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from devstack.local import Processes
from devstack.realcluster import RealCluster
from kube import Kube
from lessons.naming import INSTANCE, LESSON, LESSON_ID, MANAGED, SESSION, SESSION_ANNOTATION
from lessons.state import LessonState
from nodeagent.cluster import ClusterLinks
from scheduler.client import LessonClient
from tests.realcluster.conftest import NODES, OVERLAY_VNIS, Target
from tests.support.checks import EXAMPLES, assert_matches_manifests
from tests.support.kube import ClusterView
from tests.support.lessons import chain_lesson
from tests.support.waiting import eventually

NAD_CRD = "network-attachment-definitions.k8s.cni.cncf.io"
GONE_SECONDS = 120  # the real namespace controller takes its time (about 10-15 s idle)


def assert_nothing_refused(target: Target) -> None:
    """No request of the workers was refused by RBAC (the audit log of the control plane
    started here says; a cluster of your own keeps its log)."""
    if target.started is None:
        return
    requests = target.started.worker_requests()
    refused = [
        (e["verb"], e.get("objectRef"), e.get("responseStatus", {}).get("message"))
        for e in requests
        if e.get("responseStatus", {}).get("code") == 403
    ]
    assert requests and refused == []


def wait_gone(client: LessonClient, view: ClusterView, lesson_ids: list[str]) -> None:
    for lesson_id in lesson_ids:
        record = client.wait(lesson_id, timeout=GONE_SECONDS)
        assert record.state is LessonState.GONE, record
        assert view.namespace(record.namespace) is None
        assert view.namespaces(f"{LESSON_ID}={lesson_id}") == []


@pytest.fixture(scope="module")
def torn_down(real_stack: Processes, admin_view: ClusterView) -> Iterator[list[str]]:
    """Lessons a test tore down without waiting (the first test waits for GONE itself): each
    must be GONE when this module ends, their namespaces going while the other tests run."""
    lesson_ids: list[str] = []
    yield lesson_ids
    wait_gone(real_stack.client(), admin_view, lesson_ids)


def test_every_example_lesson_reaches_ready_and_teardown_ends_gone(
    real_stack: Processes, admin_view: ClusterView, target: Target, session_id: str
) -> None:
    client = real_stack.client()
    started = time.monotonic()
    created = {slug: client.create(slug, f"{session_id}-{slug}") for slug in EXAMPLES}
    for slug, record in created.items():
        ready = client.wait(record.id, timeout=100)
        assert ready.state is LessonState.READY, (slug, ready.error)
        assert ready.healthy == ready.total > 0
        assert ready.namespace_uid == admin_view.namespace(ready.namespace)["metadata"]["uid"]
        assert_matches_manifests(admin_view, ready, real_stack)
        labels = admin_view.namespace(ready.namespace)["metadata"]["labels"]
        assert labels[MANAGED] == "true" and labels[INSTANCE] == "test" and labels[LESSON] == slug
    all_ready = time.monotonic() - started
    for record in created.values():
        client.teardown(record.id)
    wait_gone(client, admin_view, [record.id for record in created.values()])
    assert_nothing_refused(target)
    print(
        f"real control plane: {len(created)} lessons READY in {all_ready:.1f} s, "
        f"GONE {time.monotonic() - started - all_ready:.1f} s after their teardowns"
    )


def test_a_worker_killed_mid_pipeline_is_replaced_and_the_redelivered_step_adopts(
    real_stack: Processes,
    admin_view: ClusterView,
    target: Target,
    torn_down: list[str],
    session_id: str,
) -> None:
    client = real_stack.client()
    record = client.create("snapshot-testing", session_id)
    deadline = time.monotonic() + 60
    # killed once the namespace and some of its objects exist: the step that resumes finds them
    while not (
        admin_view.namespace(record.namespace)
        and admin_view.contents(record.namespace)["network-attachment-definitions"]
    ):
        assert time.monotonic() < deadline, client.status(record.id)
        time.sleep(0.05)
    killed = real_stack.processes.pop(0)
    killed.kill()
    replacement = real_stack.start_worker("replacement")
    beat = real_stack.start_beat()  # its GC resends the steps of a lesson whose worker went quiet
    try:
        ready = client.wait(record.id, timeout=100)
        assert ready.state is LessonState.READY, ready.error
        assert_matches_manifests(admin_view, ready, real_stack)
    finally:
        beat.stop()
        real_stack.processes.remove(beat)
    assert replacement.running
    client.teardown(record.id)
    torn_down.append(record.id)
    assert_nothing_refused(target)


def test_the_orphan_sweep_deletes_this_instances_namespaces_and_leaves_the_rest(
    real_stack: Processes, admin_view: ClusterView, target: Target
) -> None:
    ours = {MANAGED: "true", INSTANCE: "test"}
    wanted = {
        "orphan-ours": {**ours, LESSON_ID: "0123456789abcdef"},
        "orphan-no-id": ours,
        "not-lessonq": {"team": "platform"},
        "other-instance": {MANAGED: "true", INSTANCE: "staging", LESSON_ID: "fedcba9876543210"},
    }
    for name, labels in wanted.items():
        admin_view.core.create_namespace({"metadata": {"name": name, "labels": labels}})
    beat = real_stack.start_beat()
    try:
        eventually(
            lambda: not any(_alive(admin_view, name) for name in ("orphan-ours", "orphan-no-id")),
            timeout=60,
            what="the orphans deleted",
        )
    finally:
        beat.stop()
        real_stack.processes.remove(beat)
    for name in ("not-lessonq", "other-instance"):
        assert _alive(admin_view, name), name
        admin_view.core.delete_namespace(name)
    assert_nothing_refused(target)


def _alive(view: ClusterView, name: str) -> bool:
    """There and not being deleted (the real namespace controller then takes its time)."""
    found = view.namespace(name)
    return found is not None and not found["metadata"].get("deletionTimestamp")


def test_an_object_the_real_apiserver_refuses_fails_the_lesson_with_its_message(
    real_stack: Processes,
    admin_view: ClusterView,
    target: Target,
    cluster: RealCluster,  # it narrows a cluster-wide CRD: only on the one started here
    torn_down: list[str],
    session_id: str,
) -> None:
    # Multus's CRD made to accept only short configs: the real apiserver answers 422.
    extensions = k8s.ApiextensionsV1Api(admin_view.api)
    original = extensions.read_custom_resource_definition(NAD_CRD)
    narrowed = extensions.read_custom_resource_definition(NAD_CRD)
    schema = narrowed.spec.versions[0].schema.open_apiv3_schema
    schema.properties["spec"].properties["config"].max_length = 10
    extensions.replace_custom_resource_definition(NAD_CRD, narrowed)
    client = real_stack.client()
    try:
        record = client.create("snapshot-testing", session_id)
        failed = client.wait(record.id, timeout=60)
    finally:
        current = extensions.read_custom_resource_definition(NAD_CRD)
        original.metadata.resource_version = current.metadata.resource_version
        extensions.replace_custom_resource_definition(NAD_CRD, original)
    assert failed.state is LessonState.FAILED
    assert failed.error is not None and failed.error.startswith("networks: "), failed.error
    assert "spec.config" in failed.error and "10" in failed.error, failed.error
    client.teardown(record.id)
    torn_down.append(record.id)
    assert_nothing_refused(target)


def test_a_pool_lesson_is_claimed_and_labelled_with_its_session_by_the_worker_account(
    real_stack: Processes,
    admin_view: ClusterView,
    target: Target,
    session_id: str,
    torn_down: list[str],
) -> None:
    client = real_stack.client()
    client.set_pools({"linux-basics": 1})
    eventually(lambda: client.pools()[0].ready == 1, timeout=60, what="a READY pool lesson")

    claimed = client.create("linux-basics", session_id)
    assert claimed.pooled and claimed.state is LessonState.READY
    client.set_pools({"linux-basics": 0})

    def labelled() -> bool:
        namespace = admin_view.namespace(claimed.namespace) or {"metadata": {}}
        pods = admin_view.core.list_namespaced_pod(claimed.namespace).items
        return (namespace["metadata"].get("labels") or {}).get(SESSION) == session_id and all(
            (pod.metadata.labels or {}).get(SESSION) == session_id for pod in pods
        )

    eventually(labelled, timeout=30, what="the namespace and pods labelled with the session")
    annotations = admin_view.namespace(claimed.namespace)["metadata"]["annotations"]
    assert annotations[SESSION_ANNOTATION] == session_id
    client.teardown(claimed.id)
    torn_down.append(claimed.id)
    assert_nothing_refused(target)


def test_an_overlay_lesson_is_wired_by_the_node_agents_cluster_side_as_its_own_account(
    real_stack: Processes, cluster: RealCluster, tmp_path: Path, session_id: str
) -> None:
    """kubesim's nodes leave these VNIs alone (conftest): lessonq's node agent, its cluster side
    on each node as the lessonq-node-agent ServiceAccount, sets the pods' gates."""
    settings = real_stack.settings.model_copy(update={"links": "overlay"})
    client = LessonClient(settings)
    record = client.create(chain_lesson(tmp_path, "three-in-a-row", 3), session_id)
    agent = Kube(cluster.node_agent.client(), timeout=settings.api_timeout)
    sides = [ClusterLinks(agent, node) for node in NODES]

    def wired() -> bool:
        for side in sides:
            side.mark_wired(side.read(), [])
        return client.status(record.id).state is LessonState.READY

    eventually(wired, timeout=60, what="the lesson READY once its links are wired")
    ready = client.status(record.id)
    assert len(ready.vnis) == 2 and set(ready.vnis) <= set(OVERLAY_VNIS)
    requests = cluster.node_agent_requests()
    assert {(e["verb"], e["objectRef"]["resource"]) for e in requests} >= {
        ("list", "pods"),
        ("list", "network-attachment-definitions"),
        ("list", "nodes"),
        ("patch", "pods"),
    }
    assert [e for e in requests if e["responseStatus"]["code"] >= 400] == []
    client.teardown(record.id)
