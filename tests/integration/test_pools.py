"""Warm pools on the whole stack: real Redis, worker and beat processes, kubesim."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lessons.naming import LESSON_ID, SESSION
from lessons.state import LessonRecord, LessonState
from scheduler.client import LessonClient
from tests.support.kube import ClusterView
from tests.support.redis import redis_client
from tests.support.stack import Stack, running_stack
from tests.support.waiting import eventually

SLUG = "linux-basics"
# Beat checks the pools every second.
POOLED = {"warm_pool": f"{SLUG}=5", "pool_refill_interval": 1}


def pool_ready(client: LessonClient, size: int, timeout: float = 60) -> list[LessonRecord]:
    """Wait until the pool holds exactly `size` lessons, all READY; those lessons."""

    def full() -> list[LessonRecord] | None:
        records = [client.status(i) for i in client.registry.pools.members(SLUG)]
        ready = [r for r in records if r.state is LessonState.READY and r.waiting_in_pool]
        return records if len(records) == size == len(ready) else None

    return eventually(full, timeout=timeout, what=f"a full pool of {size} READY lessons")


def pool_namespaces(stack: Stack) -> set[str]:
    """The namespaces of the pool's lessons that kubesim holds, terminating ones aside."""
    view = ClusterView(stack.sim.url)
    return {
        ns["metadata"]["name"]
        for ns in view.namespaces()
        if ns["metadata"]["name"].startswith(f"{SLUG}-pool-")
        and not ns["metadata"].get("deletionTimestamp")
    }


def test_twenty_creates_against_a_pool_of_five_claim_five_and_provision_fifteen(
    tmp_path: Path, session_id: str
) -> None:
    with running_stack(tmp_path, settings=POOLED, workers=2) as stack:
        stack.start_beat()
        client = stack.client()
        pooled = {record.id for record in pool_ready(client, 5)}
        start = threading.Barrier(20)

        def create(index: int) -> LessonRecord:
            start.wait()
            return client.create(SLUG, f"{session_id}-{index}")

        with ThreadPoolExecutor(20) as threads:
            records = list(threads.map(create, range(20)))

        claimed = [r for r in records if r.pooled]
        assert sorted(r.id for r in claimed) == sorted(pooled)
        assert all(r.state is LessonState.READY for r in claimed)
        assert len({r.id for r in records}) == 20
        for record in records:
            assert client.wait(record.id, timeout=60).state is LessonState.READY
        # The pool refilled itself with five new lessons; its figures say what happened.
        refilled = {r.id for r in pool_ready(client, 5)}
        assert not refilled & pooled
        [status] = client.pools()
        assert (status.claims, status.misses) == (5, 15)
        # The claimed lessons' namespaces and pods carry their sessions.
        view = ClusterView(stack.sim.url)
        for record in claimed:
            assert record.session_id is not None

            def labelled(record: LessonRecord = record) -> bool:
                ns = view.namespace(record.namespace) or {}
                return (ns.get("metadata", {}).get("labels") or {}).get(SESSION) == (
                    record.session_id
                )

            eventually(labelled, what=f"{record.namespace} labelled with its session")


def test_a_pool_lesson_whose_pod_fails_is_replaced_and_a_claimed_one_tears_down_to_nothing(
    tmp_path: Path, session_id: str
) -> None:
    settings = {**POOLED, "warm_pool": f"{SLUG}=2"}
    with running_stack(tmp_path, settings=settings) as stack:
        stack.start_beat()
        client = stack.client()
        victim, survivor = pool_ready(client, 2)
        # The pod goes, as when its node fails: the next check retires the lesson.
        view = ClusterView(stack.sim.url)
        view.core.delete_namespaced_pod("linux1", victim.namespace, grace_period_seconds=0)

        eventually(
            lambda: client.status(victim.id).state is LessonState.GONE,
            timeout=30,
            what="the broken pool lesson torn down",
        )
        replaced = pool_ready(client, 2)
        assert survivor.id in {r.id for r in replaced} and victim.id not in {r.id for r in replaced}

        claimed = client.create(SLUG, session_id)
        assert claimed.pooled
        client.teardown(claimed.id)
        assert client.wait(claimed.id, timeout=30).state is LessonState.GONE
        eventually(lambda: view.namespace(claimed.namespace) is None, what="its namespace gone")
        keys = redis_client(stack.settings.redis_url)
        registry_keys = client.registry.keys
        assert keys.get(registry_keys.idempotency(SLUG, session_id)) is None
        assert not keys.sismember(registry_keys.pool(SLUG), claimed.id)
        assert not keys.sismember(registry_keys.pool_ready(SLUG), claimed.id)
        assert claimed.id not in client.registry.live_ids()
        # The pool holds two again, and nothing else of it is left in the cluster.
        assert pool_namespaces(stack) == {r.namespace for r in pool_ready(client, 2)}


def test_a_worker_killed_while_the_pool_refills_leaves_the_pool_correct(
    tmp_path: Path, session_id: str
) -> None:
    # Namespaces are slow to create: the kill lands while the refill's lessons are under way.
    # GC resumes what the killed worker held after 2 s of silence.
    sim = {"faults": [{"verb": "create", "resource": "namespaces", "latency": 0.5}]}
    settings = {**POOLED, "warm_pool": f"{SLUG}=3", "stall_timeout": 2}
    with running_stack(tmp_path, sim=sim, settings=settings) as stack:
        stack.start_beat()
        client = stack.client()
        eventually(
            lambda: len(client.registry.pools.members(SLUG)) == 3,
            what="the refill registering three lessons",
        )
        stack.processes[0].kill()
        stack.start_worker("replacement")

        pool = pool_ready(client, 3, timeout=90)

        assert pool_namespaces(stack) == {r.namespace for r in pool}
        lesson_ids = {
            ns["metadata"]["labels"][LESSON_ID]
            for ns in ClusterView(stack.sim.url).namespaces()
            if ns["metadata"]["name"] in pool_namespaces(stack)
        }
        assert lesson_ids == {r.id for r in pool}
