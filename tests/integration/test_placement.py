"""Placement that cannot stall, on the whole stack: a three-node kubesim cluster where one node
is nearly full, and a lesson too big for any node."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from lessons.state import LessonState
from tests.support.kube import ClusterView
from tests.support.lessons import chain_lesson
from tests.support.redis import redis_client
from tests.support.stack import running_stack
from tests.support.waiting import eventually

# Every node holds 12 pods, node-1 only 5; fillers leave node-1 the emptiest (2 of 5), so the
# first pod of a lesson lands there and a lesson of four cannot follow it.
SIM = {"allocatable": {"pods": "12"}, "node_allocatable": {"node-1": {"pods": "5"}}}
FILLERS = {"node-1": 2, "node-2": 3, "node-3": 3}


def filler(node: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{node}-{index}", "namespace": "fillers"},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "filler:1"}]},
    }


def huge_lesson(folder: Path, endpoints: int) -> Path:
    """A lesson of `endpoints` Linux boxes, in a folder of its own."""
    lesson = {
        "name": "Too Many Boxes",
        "slug": "too-many-boxes",
        "category": "fundamentals",
        "tier": "local",
        "shortDescription": "More devices than any node holds.",
        "endpoints": [{"name": f"box{i}", "image": "utility"} for i in range(endpoints)],
        "stages": [{"description": "Look around", "guideType": "markdown"}],
    }
    path = folder / "too-many-boxes" / "lesson.meta.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(lesson))
    return path


def test_lessons_reach_ready_beside_a_nearly_full_node_and_one_too_big_fails_early(
    tmp_path: Path, session_id: str
) -> None:
    with running_stack(tmp_path, sim=SIM) as stack:
        view = ClusterView(stack.sim.url)
        view.core.create_namespace({"metadata": {"name": "fillers"}})
        for node, count in FILLERS.items():
            for index in range(count):
                view.core.create_namespaced_pod("fillers", filler(node, index))
        client = stack.client()

        stranded = client.create("snapshot-testing", f"{session_id}-a")
        small = client.create("linux-basics", f"{session_id}-b")
        too_big = client.create(huge_lesson(tmp_path / "lessons", 13), f"{session_id}-c")

        ready = client.wait(stranded.id, timeout=60)
        assert ready.state is LessonState.READY, ready.error
        assert ready.avoided_nodes == ["node-1"]
        assert client.wait(small.id, timeout=60).state is LessonState.READY
        failed = client.wait(too_big.id, timeout=60)
        assert failed.state is LessonState.FAILED
        assert failed.error == (
            "readiness: no node could hold the lesson's 13 pods (cpu 0, memory 0): the largest "
            "of 3 nodes allocates cpu 32, memory 128Gi, 12 pods"
        )
        # Early: long before the provisioning deadline.
        assert failed.updated_at - failed.created_at < stack.settings.provision_timeout / 3


def test_on_an_overlay_a_lesson_too_big_for_a_node_spreads_and_one_that_fits_stays_together(
    tmp_path: Path, session_id: str
) -> None:
    # Three nodes of three pods each; node-3's agent is slow to wire.
    sim = {"allocatable": {"pods": "3"}, "link_agent_slow": {"node-3": 2}}
    settings = {"links": "overlay"}
    with running_stack(tmp_path, sim=sim, settings=settings) as stack:
        client = stack.client()
        view = ClusterView(stack.sim.url)

        spread = client.create(chain_lesson(tmp_path, "five-in-a-row", 5), f"{session_id}-a")
        ready = client.wait(spread.id, timeout=60)
        assert ready.state is LessonState.READY, ready.error
        together = client.create(chain_lesson(tmp_path, "three-in-a-row", 3), f"{session_id}-b")
        assert client.wait(together.id, timeout=60).state is LessonState.READY

        def nodes(namespace: str) -> set[str]:
            pods = view.core.list_namespaced_pod(namespace).items
            assert all(
                any(
                    c.type == "lessonq.io/links-wired" and c.status == "True"
                    for c in pod.status.conditions
                )
                for pod in pods
            )
            return {pod.spec.node_name for pod in pods}

        assert len(nodes(spread.namespace)) == 2
        assert len(nodes(together.namespace)) == 1
        assert len(ready.vnis) == 4 and len(set(ready.vnis)) == 4


def test_on_an_overlay_a_link_never_wired_fails_the_lesson_saying_so(
    tmp_path: Path, session_id: str
) -> None:
    # Every node's agent refuses the lesson's one VNI (as a node whose firewall or kernel
    # refuses it would): its pods run, and are never Ready.
    sim = {"link_agent_refused_vnis": [20000]}
    settings = {"links": "overlay", "vni_range": "20000-20009"}
    with running_stack(tmp_path, sim=sim, settings=settings) as stack:
        client = stack.client()
        record = client.create(chain_lesson(tmp_path, "two-in-a-row", 2), session_id)
        view = ClusterView(stack.sim.url)

        def gated() -> bool:
            pods = view.core.list_namespaced_pod(record.namespace).items
            return len(pods) == 2 and all(
                any(c.reason == "ReadinessGatesNotReady" for c in pod.status.conditions or [])
                for pod in pods
            )

        # Its devices are up, their links never wired: then the lesson's time runs out (its
        # deadline moved to now, not shortened to race the machine).
        eventually(gated, what="both pods up and waiting for their links")
        redis = redis_client(stack.settings.redis_url)
        keys, now = client.registry.keys, time.time()
        redis.hset(keys.record(record.id), "deadline", now)
        redis.zadd(keys.deadline, {record.id: now})

        failed = client.wait(record.id, timeout=60)

        assert failed.state is LessonState.FAILED and failed.vnis == [20000]
        assert failed.error is not None and "ReadinessGatesNotReady" in failed.error
        assert failed.diagnostics is not None
        events = [event for pod in failed.diagnostics.pods for event in pod.events]
        assert any("LinksNotWired" in event and "VNI 20000" in event for event in events), events
