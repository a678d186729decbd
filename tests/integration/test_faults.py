"""Nothing is lost: killed workers, a Redis restart, a flaky API, and an API that refuses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from lessons.naming import LESSON_ID
from lessons.state import LessonRecord, LessonState
from tests.support.kube import ClusterView
from tests.support.redis import redis_client
from tests.support.stack import running_stack
from tests.support.waiting import wait_for_step


def assert_ready(record: LessonRecord) -> None:
    assert record.state is LessonState.READY, record.error
    assert record.healthy == record.total


def test_worker_killed_mid_pipeline_then_a_new_worker_finishes(
    tmp_path: Path, session_id: str
) -> None:
    # Pod creates are slow, so the kill lands while the pods step is running.
    sim = {"faults": [{"verb": "create", "resource": "pods", "latency": 1.0}]}
    with running_stack(tmp_path, sim=sim) as stack:
        stack.start_beat()
        client = stack.client()
        record = client.create("snapshot-testing", session_id)
        wait_for_step(client, record.id, "pods")
        stack.processes[0].kill()
        stack.start_worker("replacement")
        assert_ready(client.wait(record.id, timeout=90))


def test_redis_restart_while_provisioning_loses_nothing(tmp_path: Path, session_id: str) -> None:
    sim = {"faults": [{"verb": "create", "resource": "pods", "latency": 0.5}]}
    with running_stack(tmp_path, sim=sim) as stack:
        stack.start_beat()
        client = stack.client()
        records = [
            client.create(slug, f"{session_id}-{slug}")
            for slug in ("linux-basics", "snapshot-testing", "bgp-spine-leaf")
        ]
        wait_for_step(client, records[1].id, "pods")
        stack.redis.restart()
        for record in records:
            assert_ready(client.wait(record.id, timeout=90))
        assert {r.id for r in client.list()} == {r.id for r in records}


def test_flaky_api_with_a_fifth_of_calls_failing_still_gets_ready(
    tmp_path: Path, session_id: str
) -> None:
    sim = {
        "seed": 7,
        "faults": [{"error_500": 0.07, "error_503": 0.07, "error_429": 0.06, "retry_after": 1}],
    }
    with running_stack(tmp_path, sim=sim) as stack:
        client = stack.client()
        record = client.create("snapshot-testing", session_id)
        assert_ready(client.wait(record.id, timeout=90))
        stats = stack.sim.stats()
        assert _count(stats, status="500") > 0 and _count(stats, status="429") > 0
        client.teardown(record.id)
        assert client.wait(record.id, timeout=60).state is LessonState.GONE


def _count(
    stats: dict[str, Any], *, status: str, resource: str | None = None, verb: str | None = None
) -> int:
    """Requests in kubesim's stats with that status (and resource and verb, when given)."""
    return sum(
        count
        for verb_name, resources in stats["requests"].items()
        if verb in (None, verb_name)
        for resource_name, codes in resources.items()
        if resource in (None, resource_name)
        for code, count in codes.items()
        if code == status
    )


def test_api_refusing_an_object_fails_the_lesson_at_once_with_its_message(
    tmp_path: Path, session_id: str
) -> None:
    with running_stack(tmp_path) as stack:
        # A cluster whose Multus CRD only accepts short configs: the apiserver answers 422.
        view = ClusterView(stack.sim.url)
        extensions = k8s.ApiextensionsV1Api(view.api)
        crd = extensions.read_custom_resource_definition(
            "network-attachment-definitions.k8s.cni.cncf.io"
        )
        schema = crd.spec.versions[0].schema.open_apiv3_schema
        schema.properties["spec"].properties["config"].max_length = 10
        extensions.replace_custom_resource_definition(crd.metadata.name, crd)

        client = stack.client()
        record = client.create("snapshot-testing", session_id)
        failed = client.wait(record.id, timeout=60)
        assert failed.state is LessonState.FAILED
        assert failed.error is not None
        assert failed.error.startswith("networks: ")
        assert "spec.config" in failed.error
        links = len(client.registry.plan(record.id).links)
        # One refused create per link, and no retries.
        assert (
            _count(stack.sim.stats(), status="422", resource="network-attachment-definitions")
            == links
        )
        assert view.namespaces(f"{LESSON_ID}={record.id}") != []


def test_pods_that_never_get_ready_fail_at_the_deadline_saying_what_they_wait_for(
    tmp_path: Path, session_id: str
) -> None:
    sim = {"image_profiles": [{"pattern": "*", "outcome": "never-ready"}]}
    with running_stack(tmp_path, sim=sim) as stack:
        client = stack.client()
        record = client.create("linux-basics", session_id)
        # Once readiness is looking at the pods, the lesson's time runs out: its deadline moves
        # to now (however long the machine took to get here), not a short deadline that races it.
        wait_for_step(client, record.id, "readiness")
        redis = redis_client(stack.settings.redis_url)
        keys = client.registry.keys
        now = time.time()
        redis.hset(keys.record(record.id), "deadline", now)
        redis.zadd(keys.deadline, {record.id: now})
        failed = client.wait(record.id, timeout=60)
        assert failed.state is LessonState.FAILED
        assert failed.error is not None
        assert failed.error.startswith(
            "readiness: 0/1 endpoints ready at the provisioning deadline"
        )
        assert "waiting: linux1 (" in failed.error


def test_an_image_that_cannot_be_pulled_fails_the_lesson_without_waiting_for_the_deadline(
    tmp_path: Path, session_id: str
) -> None:
    sim = {"image_profiles": [{"pattern": "*/utility:*", "outcome": "pull-error"}]}
    with running_stack(tmp_path, sim=sim) as stack:
        client = stack.client()
        record = client.create("linux-basics", session_id)
        failed = client.wait(record.id, timeout=60)
        assert failed.state is LessonState.FAILED
        assert failed.error is not None and "pod linux1: ImagePullBackOff" in failed.error
        # Long before the (90 s) provisioning deadline.
        assert failed.updated_at < record.deadline - 60
        # What the pod said stays with the record once the namespace is gone.
        client.teardown(record.id)
        gone = client.wait(record.id, timeout=30)
        assert gone.state is LessonState.GONE and gone.diagnostics is not None
        [pod] = gone.diagnostics.pods
        assert (pod.pod, pod.waiting, pod.log) == ("linux1", "ImagePullBackOff", None)
        assert any("Failed" in event and "pull" in event.lower() for event in pod.events), pod
