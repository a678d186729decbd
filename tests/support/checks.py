"""Checks shared by the end-to-end tests on kubesim and on the real control plane."""

from __future__ import annotations

import json

from devstack.local import Processes
from lessons.manifests import NETWORKS_ANNOTATION
from lessons.naming import LESSON_ID
from lessons.state import LessonRecord
from lessons.steps import Desired, all_manifests
from tests.support.kube import ClusterView
from tests.support.settings import REPO

EXAMPLES = sorted(path.name for path in (REPO / "examples/curriculum/lessons").iterdir())


def assert_matches_manifests(view: ClusterView, record: LessonRecord, stack: Processes) -> None:
    """Every object the lesson's plan makes is in the cluster as built, its pods Ready on one
    node with their networks attached, its Jobs complete."""
    registry = stack.client().registry
    plan = registry.plan(record.id)
    files = registry.files(plan.files_version) if plan.files_version else None
    nodes = set()
    desired = Desired(
        plan, record.stage, record.config_generation, lambda: files, tuple(record.avoided_nodes)
    )
    for manifest in all_manifests(desired):
        meta = manifest["metadata"]
        live = view.get(manifest["kind"], meta.get("namespace", ""), meta["name"])
        assert meta["labels"].items() <= live["metadata"]["labels"].items()
        assert live["metadata"]["labels"][LESSON_ID] == record.id
        kind = manifest["kind"]
        if kind == "Pod":
            nodes.add(live["spec"]["nodeName"])
            ready = {c["type"]: c["status"] for c in live["status"]["conditions"]}["Ready"]
            assert ready == "True", live["status"]
            wanted = manifest["metadata"].get("annotations", {}).get(NETWORKS_ANNOTATION)
            annotations = live["metadata"].get("annotations") or {}
            assert annotations.get(NETWORKS_ANNOTATION) == wanted
            if wanted is not None:
                status = json.loads(annotations["k8s.v1.cni.cncf.io/network-status"])
                interfaces = {entry.get("interface") for entry in status}
                assert {a["interface"] for a in json.loads(wanted)} <= interfaces
        elif kind == "Namespace":
            # the name label, where the apiserver sets it (v1.21 on: kubesim; not v1.20)
            named = live["metadata"]["labels"].get("kubernetes.io/metadata.name", meta["name"])
            assert named == meta["name"]
        elif kind in ("NetworkPolicy", "NetworkAttachmentDefinition", "Ingress"):
            assert live["spec"] == manifest["spec"]
        elif kind == "Service":
            assert [p["port"] for p in live["spec"].get("ports") or []] == [
                p["port"] for p in manifest["spec"].get("ports") or []
            ]
        elif kind in ("ConfigMap", "Secret"):
            assert live.get("data") == manifest.get("data")
            assert live.get("binaryData") == manifest.get("binaryData")
        elif kind == "Job":
            conditions = {c["type"]: c["status"] for c in live["status"]["conditions"]}
            assert conditions.get("Complete") == "True", live["status"]
            # As asked, under what the apiserver defaults (imagePullPolicy and the like).
            [asked] = manifest["spec"]["template"]["spec"]["containers"]
            [made] = live["spec"]["template"]["spec"]["containers"]
            assert {key: made[key] for key in asked} == asked
    # Bridges are node-local: every endpoint of the lesson must share one node.
    assert len(nodes) == 1, nodes
