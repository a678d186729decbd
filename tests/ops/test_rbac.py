"""The ClusterRole in deploy/ against the calls the code really makes.

A stack of its own (Redis, kubesim, a worker) so that kubesim counts only this run, and every
call counted comes from the pipeline: the test only asks for lessons, sends task messages and
touches Redis; its one use of the Kubernetes API, putting the web pages' certificate where
lessonq runs (as an operator would), is left out of the counts. It runs, through the real
tasks, a provisioning with its readiness watch (a lesson with a web page and a Jupyter guide,
published under a presentation domain with TLS), the same steps delivered again while the
lesson is still provisioning (as after a lost acknowledgement: each finds its objects there and
reads them back), a placement on a node too small for the lesson (placed again), a stage
change, a configuration that fails, a warm pool's lesson claimed (and labelled with its
session), a teardown, and GC's orphan sweep.
Every (verb, resource) kubesim counted must be granted, and every grant must have been used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import load_settings
from jobs import CeleryProducer, StepPayload, sending_app
from kube import Kube
from kubesim import KubeSim
from kubesim.multus import MULTUS_CRD
from kubesim.resources import BUILTINS, custom_types_of
from lessons.manifests import LINKS_WIRED, NETWORKS_ANNOTATION, VNI_ANNOTATION
from lessons.naming import MANAGED
from lessons.state import LessonRecord, LessonState
from lessons.steps import Job, Step
from nodeagent.cluster import ClusterLinks
from nodeagent.links import Wanted
from scheduler.client import LessonClient
from tests.support.kube import ClusterView
from tests.support.redis import redis_client
from tests.support.settings import REPO, TEST_SIM
from tests.support.stack import Stack, running_stack
from tests.support.waiting import eventually

GROUP_OF = {rt.plural: rt.group for rt in (*BUILTINS, *custom_types_of(MULTUS_CRD))}
# Devices boot for 3 s (at kubesim's 1/20 of real time): the readiness step finds them not
# ready and watches, and the lesson is still provisioning when its steps come again. The
# configurator succeeds; a broken one fails, saying why.
BROKEN_CONFIGURATOR = "registry.example/lab/broken-configurator:1"
BOOTING = {
    "image_profiles": [
        {"pattern": "*/configurator:*", "boot_seconds": 1, "jitter_seconds": 0, "run_seconds": 1},
        {
            "pattern": BROKEN_CONFIGURATOR,
            "boot_seconds": 1,
            "jitter_seconds": 0,
            "outcome": "fail",
            "run_seconds": 1,
            "output": ["connecting to vqfx1", "error: the device refused the configuration"],
        },
        {"pattern": "*", "boot_seconds": 60, "jitter_seconds": 0},
    ],
    # node-1 holds two pods: the first lesson's first pod lands there (the emptiest node, the
    # first on a tie), the others cannot follow, and the lesson is placed again elsewhere.
    "node_allocatable": {"node-1": {"pods": "2"}},
}


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


def counts(stats: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {
        (verb, resource): sum(codes.values())
        for verb, resources in stats["requests"].items()
        for resource, codes in resources.items()
    }


def used(stats: dict[str, Any], before: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(group, resource, verb) of the requests made since `before`."""
    earlier = counts(before)
    return {
        (GROUP_OF[resource.split("/")[0]], resource, verb)
        for (verb, resource), count in counts(stats).items()
        if count > earlier.get((verb, resource), 0)
    }


# Web pages under a domain, with TLS: the services step reads the certificate and copies it.
WEB_PAGES = {
    "presentation_domain": "labs.example.com",
    "presentation_tls_secret": "labs-tls",
    "namespace": "lab-system",
}


@pytest.fixture
def rbac_stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, sim=BOOTING, settings=WEB_PAGES) as stack:
        yield stack


def worker_log_lines(stack: Stack, pattern: str) -> list[str]:
    return re.findall(pattern, stack.processes[0].log.read_text(errors="replace"), re.MULTILINE)


def settled(stack: Stack, lesson_id: str) -> LessonRecord:
    return stack.client().wait(lesson_id, timeout=60)


def test_the_cluster_role_grants_exactly_what_the_pipeline_uses(
    rbac_stack: Stack, session_id: str
) -> None:
    client = rbac_stack.client()
    settings = rbac_stack.settings
    ClusterView(rbac_stack.sim.url).certificate("lab-system", "labs-tls")
    before = rbac_stack.sim.stats()
    app = sending_app(settings)
    # server1's web page and the Jupyter guide: Ingresses, and the certificate copied in.
    lesson = client.create("bgp-spine-leaf", session_id)
    # Alone in the cluster, its first pod lands on node-1, which cannot hold the rest.
    placed_again = eventually(
        lambda: client.status(lesson.id).avoided_nodes, what="the lesson placed again"
    )
    assert placed_again == ["node-1"]
    orphan = client.create("linux-basics", f"{session_id}-orphan")
    # A warm pool of one: a session claims its lesson below, and a worker labels it.
    client.set_pools({"snapshot-testing": 1})

    # Redelivery: once the pods are made and readiness has watched them, every step of the
    # lesson is delivered again while the devices still boot.
    def watched() -> LessonRecord | None:
        record = client.status(lesson.id)
        watches = rbac_stack.sim.stats()["requests"].get("watch", {})
        return record if record.step_done(Step.PODS) and "pods" in watches else None

    record = eventually(watched, timeout=60, what="the readiness step watching the pods")
    assert record.state is LessonState.PROVISIONING
    # (configure waits for readiness: delivered now, it is dropped, and comes when its turn does)
    again = [step for step in Step if step not in (Step.READINESS, Step.CONFIGURE)]
    CeleryProducer(app, settings.queue).steps(again, StepPayload.of(record))
    for step in again:
        done = rf"^.*lesson {lesson.id} .* step {step.value}: done in .*$"
        eventually(
            lambda step=step, done=done: len(worker_log_lines(rbac_stack, done)) == 2,
            what=f"step {step.value} done twice",
        )
    for provisioned in (lesson, orphan):
        record = settled(rbac_stack, provisioned.id)
        assert record.state is LessonState.READY, record.error
    # A stage change: the Jobs of stage 0 go, stage 1's run. Its configure step is delivered
    # twice at once while creating Jobs is slow: one delivery finds the other's Jobs made and
    # adopts them.
    rbac_stack.sim.set_faults([{"verb": "create", "resource": "jobs", "latency": 3.0}])
    client.set_stage(lesson.id, 1)
    moving = client.status(lesson.id)
    CeleryProducer(app, settings.queue).steps([Step.CONFIGURE], StepPayload.of(moving))
    moved = settled(rbac_stack, lesson.id)
    rbac_stack.sim.set_faults([])
    assert (moved.state, moved.stage) == (LessonState.READY, 1), moved.error
    # A configuration that fails: the lesson fails with its pod's last lines.
    broken = LessonClient(settings.model_copy(update={"configurator_image": BROKEN_CONFIGURATOR}))
    failed = settled(rbac_stack, broken.create("device-configuration", f"{session_id}-x").id)
    assert failed.state is LessonState.FAILED
    assert "error: the device refused the configuration" in (failed.error or "")

    eventually(lambda: client.pools()[0].ready == 1, timeout=60, what="a READY pool lesson")
    claimed = client.create("snapshot-testing", f"{session_id}-pool")
    assert claimed.pooled
    eventually(
        lambda: worker_log_lines(rbac_stack, rf"^.*lesson {claimed.id} .* step claim: done"),
        what="the claimed lesson labelled with its session",
    )

    for done_with in (lesson, failed):
        client.teardown(done_with.id)
        assert settled(rbac_stack, done_with.id).state is LessonState.GONE

    # The other lesson's record is lost (as when Redis loses its data): its namespace is an
    # orphan, and GC's sweep (the task beat sends) deletes it.
    redis_client(settings.redis_url).delete(client.registry.keys.record(orphan.id))
    app.send_task(Job.GC_ORPHANS, queue=settings.queue)
    eventually(
        lambda: worker_log_lines(
            rbac_stack, rf"gc: deleted orphan namespaces .*'{orphan.namespace}'"
        ),
        what="the orphan sweep",
    )

    calls = used(rbac_stack.sim.stats(), before)
    grants = granted(cluster_role())
    assert calls - grants == set(), "the code calls what deploy/rbac.yaml does not grant"
    assert grants - calls == set(), "deploy/rbac.yaml grants what the code no longer uses"


def agent_role() -> dict[str, Any]:
    documents = yaml.safe_load_all((REPO / "deploy" / "node-agent.yaml").read_text())
    (role,) = [doc for doc in documents if doc["kind"] == "ClusterRole"]
    return role


def test_the_node_agents_role_grants_exactly_what_its_cluster_side_uses() -> None:
    """The agent's pass on an overlay node: it reads the links, then gates a pod once wired
    (kubesim's own simulated agents are off: this one sets the gate)."""
    with KubeSim(**{**TEST_SIM, "link_agent_down": ["node-1", "node-2", "node-3"]}) as sim:
        view = ClusterView(sim.url)
        view.core.create_namespace({"metadata": {"name": "lesson"}})
        config = {"cniVersion": "0.3.1", "type": "bridge", "bridge": "lqabcdefghijklm"}
        view.custom.create_namespaced_custom_object(
            "k8s.cni.cncf.io",
            "v1",
            "lesson",
            "network-attachment-definitions",
            {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {
                    "name": "a-b",
                    "labels": {MANAGED: "true"},
                    "annotations": {VNI_ANNOTATION: "5001"},
                },
                "spec": {"config": json.dumps(config)},
            },
        )
        for name in ("a", "b"):
            pod = {
                "metadata": {
                    "name": name,
                    "labels": {MANAGED: "true"},
                    "annotations": {NETWORKS_ANNOTATION: json.dumps([{"name": "a-b"}])},
                },
                "spec": {
                    "containers": [{"name": "device", "image": "antidotelabs/utility:1"}],
                    "readinessGates": [{"conditionType": LINKS_WIRED}],
                },
            }
            view.core.create_namespaced_pod("lesson", pod)
        node = eventually(
            lambda: view.core.read_namespaced_pod("a", "lesson").spec.node_name,
            what="pod a bound",
        )
        before = sim.stats()

        links = ClusterLinks(Kube.from_settings(load_settings(kube_url=sim.url)), node)

        def both_bound() -> Wanted | None:
            read = links.read()
            return None if read.unknown else read

        found = eventually(both_bound, what="both pods bound")
        assert links.mark_wired(found, []) == [("lesson", "a")]

        calls = used(sim.stats(), before)
    grants = granted(agent_role())
    assert calls - grants == set(), "the agent calls what deploy/node-agent.yaml does not grant"
    assert grants - calls == set(), "deploy/node-agent.yaml grants what the agent no longer uses"
