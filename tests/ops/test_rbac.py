"""The ClusterRole in deploy/ against the calls the code really makes.

An end-to-end run on a kubesim that only lessonq talks to: provisioning, a redelivered
provisioning (which finds everything there and reads it back), the readiness watch, teardown,
and GC's orphan sweep.
Every (verb, resource) kubesim counted must be granted, and every grant must have been used.
"""

from __future__ import annotations

from typing import Any

import yaml

from kubesim.multus import MULTUS_CRD
from kubesim.resources import BUILTINS, custom_types_of
from scheduler.naming import LESSON_ID
from scheduler.state import LessonState
from tasks.gc import collect_orphans
from tasks.kube import Kube
from tasks.manifests import all_manifests, namespace_manifest
from tasks.runtime import Runtime
from tests.support.settings import REPO
from tests.support.stack import Stack
from workers.app import create_app

GROUP_OF = {rt.plural: rt.group for rt in (*BUILTINS, *custom_types_of(MULTUS_CRD))}


def cluster_role() -> dict[str, Any]:
    documents = yaml.safe_load_all((REPO / "deploy" / "rbac.yaml").read_text())
    (role,) = [doc for doc in documents if doc["kind"] == "ClusterRole"]
    return role


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(stats: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (GROUP_OF[resource.split("/")[0]], resource, verb)
        for verb, resources in stats["requests"].items()
        for resource in resources
    }


def test_the_cluster_role_grants_exactly_what_the_pipeline_uses(
    ops_stack: Stack, session_id: str
) -> None:
    client = ops_stack.client()
    settings = ops_stack.settings
    kube = Kube.from_settings(settings)
    try:
        record = client.wait(client.create("snapshot-testing", session_id).id, timeout=60)
        assert record.state is LessonState.READY, record.error
        # A redelivered provisioning finds every object there and reads it back.
        kube.ensure_all(all_manifests(client.registry.plan(record.id)), record.id)
        # The readiness step watches the pods only if they were not all ready when it listed
        # them, which on a fast cluster they may have been: watch them once here.
        selector = f"{LESSON_ID}={record.id}"
        _, since = kube.list_pods(record.namespace, selector)
        for _ in kube.watch_pods(record.namespace, selector, since, 1):
            pass
        client.teardown(record.id)
        assert client.wait(record.id, timeout=30).state is LessonState.GONE
        orphan = client.plan("linux-basics", f"{session_id}-orphan")
        kube.ensure(namespace_manifest(orphan), orphan.lesson_id)
        swept = collect_orphans(Runtime.build(settings, create_app(settings)))
        assert orphan.namespace in swept
    finally:
        kube.close()

    calls = used(ops_stack.sim.stats())
    grants = granted(cluster_role())
    assert calls - grants == set(), "the code calls what deploy/rbac.yaml does not grant"
    assert grants - calls == set(), "deploy/rbac.yaml grants what the code no longer uses"
