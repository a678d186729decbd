"""Warm pools: the refill, the claim, the retirement of pool lessons that cannot be handed out,
and what follows a claim, on the real registry (a real Redis) with the cluster in memory."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from config.settings import Settings
from kube import PermanentError, TransientError
from kube.kinds import NAMESPACE, POD
from lessons.naming import SESSION, SESSION_ANNOTATION
from lessons.state import LessonRecord, LessonState
from lessons.steps import Job
from registry import AdmissionRefused, LessonRegistry
from scheduler.client import LessonClient, PoolSizeError
from tasks.gc import expire_idle
from tasks.pools import hand_over, refill
from tasks.runtime import Runtime
from tests.fakes.clock import FakeClock
from tests.fakes.kube import FakeKube
from tests.fakes.producer import RecordingProducer
from tests.fakes.worker import FakeWorker

# A test's own settings mark replaces this one: it names the pool again.
pytestmark = pytest.mark.settings(warm_pool="linux-basics=2")


@pytest.fixture
def client(
    settings: Settings, registry: LessonRegistry, producer: RecordingProducer
) -> LessonClient:
    return LessonClient(settings, registry=registry, producer=producer)


@pytest.fixture
def cluster_works(kube: FakeKube, worker: FakeWorker) -> None:
    """Every pod of every namespace runs, every configuration Job succeeds."""

    def run_everything() -> None:
        for namespace in kube.names(NAMESPACE):
            kube.run_pods(namespace)
            kube.finish_jobs(namespace)

    worker.between = run_everything


@pytest.fixture
def filled(
    runtime: Runtime, worker: FakeWorker, registry: LessonRegistry, cluster_works: None
) -> Callable[[], list[LessonRecord]]:
    """Refill the pools and run their lessons to READY; the pool's lessons."""

    def fill() -> list[LessonRecord]:
        refill(runtime)
        worker.run()
        return [registry.require(i) for i in registry.pools.members("linux-basics")]

    return fill


def restart_a_pod(kube: FakeKube, record: LessonRecord) -> None:
    """The kubelet restarts a container of one of the lesson's pods."""
    pod = kube.listing(POD, record.namespace, "").items[0]
    status = {**pod["status"], "containerStatuses": [{"name": "x", "restartCount": 1}]}
    kube.set_pod_status(record.namespace, pod["metadata"]["name"], status)


def test_a_refill_provisions_the_pool_with_lessons_of_no_session_that_never_expire(
    filled: Callable[[], list[LessonRecord]], runtime: Runtime, clock: FakeClock
) -> None:
    pool = filled()

    assert len(pool) == 2
    for record in pool:
        assert record.state is LessonState.READY and record.waiting_in_pool
        assert record.session_id is None and record.expires_at is None
        assert record.namespace.startswith("linux-basics-pool-")
    [status] = runtime.registry.pools.statuses()
    assert (status.size, status.ready, status.provisioning, status.refills) == (2, 2, 0, 2)
    # Idle for a year: GC expires none of them; and they count as live.
    assert expire_idle(runtime, clock.now() + 365 * 86400) == []
    assert len(runtime.registry.live_ids()) == 2


def test_a_create_claims_a_ready_pool_lesson_and_its_session_gets_it_again(
    filled: Callable[[], list[LessonRecord]],
    client: LessonClient,
    producer: RecordingProducer,
    clock: FakeClock,
    settings: Settings,
) -> None:
    pool = {record.id for record in filled()}

    claimed = client.create("linux-basics", "alice")

    assert claimed.id in pool and claimed.state is LessonState.READY
    assert claimed.session_id == "alice" and claimed.pooled
    assert claimed.claimed_at == clock.now()
    assert claimed.expires_at == clock.now() + settings.lesson_ttl
    # The follow-up goes to a worker: the answer did not wait for it.
    assert [m.task for m in producer.take()] == [Job.POOL_CLAIMED]
    assert client.create("linux-basics", "alice").id == claimed.id
    assert client.list("alice") == [client.status(claimed.id)]
    assert claimed.id not in client.registry.pools.members("linux-basics")


def test_a_create_at_another_stage_or_of_an_unpooled_lesson_is_provisioned(
    filled: Callable[[], list[LessonRecord]], client: LessonClient
) -> None:
    pool = {record.id for record in filled()}

    staged = client.create("linux-basics", "bob", stage=0)
    assert staged.id in pool
    other = client.create("snapshot-testing", "bob")
    assert other.id not in pool and not other.pooled and other.state is LessonState.QUEUED
    [status] = client.pools()
    assert (status.claims, status.misses) == (1, 0)


def test_an_empty_pool_is_a_miss_and_the_lesson_is_provisioned(
    filled: Callable[[], list[LessonRecord]], client: LessonClient
) -> None:
    filled()
    first, second = (client.create("linux-basics", f"s{i}") for i in range(2))
    third = client.create("linux-basics", "s2")

    assert first.pooled and second.pooled and first.id != second.id
    assert not third.pooled and third.state is LessonState.QUEUED
    [status] = client.pools()
    assert (status.claims, status.misses, status.ready) == (2, 1, 0)


def test_concurrent_creates_never_get_the_same_pool_lesson(
    filled: Callable[[], list[LessonRecord]], client: LessonClient
) -> None:
    pool = {record.id for record in filled()}
    start = threading.Barrier(10)

    def create(index: int) -> LessonRecord:
        start.wait()
        return client.create("linux-basics", f"racer-{index}")

    with ThreadPoolExecutor(10) as threads:
        records = list(threads.map(create, range(10)))

    claimed = [record.id for record in records if record.pooled]
    assert sorted(claimed) == sorted(pool)
    assert len({record.id for record in records}) == 10


def test_what_follows_a_claim_labels_the_namespace_and_pods_and_refills_the_pool(
    filled: Callable[[], list[LessonRecord]],
    client: LessonClient,
    worker: FakeWorker,
    kube: FakeKube,
    registry: LessonRegistry,
) -> None:
    filled()
    claimed = client.create("linux-basics", "carol")
    worker.run()

    namespace = kube.read(NAMESPACE, claimed.namespace)
    assert namespace is not None
    assert namespace["metadata"]["labels"][SESSION] == "carol"
    assert namespace["metadata"]["annotations"][SESSION_ANNOTATION] == "carol"
    pods = kube.listing(POD, claimed.namespace, "").items
    assert pods and all(pod["metadata"]["labels"][SESSION] == "carol" for pod in pods)
    assert registry.plan(claimed.id).session_id == "carol"
    # The pool is full again, with a new lesson, READY.
    members = registry.pools.members("linux-basics")
    assert len(members) == 2 and claimed.id not in members
    assert all(registry.require(i).state is LessonState.READY for i in members)


def test_a_failed_pool_lesson_is_retired_and_replaced(
    runtime: Runtime, registry: LessonRegistry, worker: FakeWorker, cluster_works: None
) -> None:
    refill(runtime)
    broken, kept = registry.pools.members("linux-basics")
    assert registry.fail(broken, "an image that never pulls")

    report = refill(runtime)["linux-basics"]
    worker.run()

    assert report["retired"] == [broken] and len(report["started"]) == 1
    assert registry.require(broken).state is LessonState.GONE
    members = registry.pools.members("linux-basics")
    assert kept in members and broken not in members and len(members) == 2
    assert all(registry.require(i).state is LessonState.READY for i in members)


def test_a_ready_pool_lesson_whose_pod_restarted_is_retired(
    filled: Callable[[], list[LessonRecord]],
    runtime: Runtime,
    kube: FakeKube,
    registry: LessonRegistry,
) -> None:
    restarted, _ = filled()
    restart_a_pod(kube, restarted)

    report = refill(runtime)["linux-basics"]

    assert report["retired"] == [restarted.id]
    assert registry.require(restarted.id).state is LessonState.TEARING_DOWN


@pytest.mark.settings(warm_pool="linux-basics=3")
def test_a_smaller_pool_retires_its_lessons_furthest_from_ready_first(
    filled: Callable[[], list[LessonRecord]],
    runtime: Runtime,
    client: LessonClient,
    registry: LessonRegistry,
) -> None:
    ready = filled()
    client.set_pools({"linux-basics": 4})
    refill(runtime)  # one more, not yet provisioned
    [provisioning] = set(registry.pools.members("linux-basics")) - {r.id for r in ready}

    client.set_pools({"linux-basics": 2})
    report = refill(runtime)["linux-basics"]

    assert report["retired"][0] == provisioning and len(report["retired"]) == 2
    assert len(registry.pools.members("linux-basics")) == 2


def test_refills_at_once_never_make_the_pool_larger_than_its_size(
    runtime: Runtime, registry: LessonRegistry
) -> None:
    with ThreadPoolExecutor(4) as threads:
        list(threads.map(lambda _: refill(runtime), range(4)))

    assert len(registry.pools.members("linux-basics")) == 2


@pytest.mark.settings(warm_pool="linux-basics=2", max_live_lessons=3)
def test_pool_lessons_count_toward_the_admission_limit(
    filled: Callable[[], list[LessonRecord]], client: LessonClient
) -> None:
    filled()
    client.create("snapshot-testing", "dave")

    with pytest.raises(AdmissionRefused, match="3 lessons are live"):
        client.create("snapshot-testing", "erin")
    # A claim adds no live lesson: it is admitted at the limit.
    assert client.create("linux-basics", "erin").pooled


def test_a_lesson_changed_since_its_pool_lessons_were_made_is_not_claimed_and_they_retire(
    filled: Callable[[], list[LessonRecord]],
    client: LessonClient,
    runtime: Runtime,
    settings: Settings,
) -> None:
    old = {record.id for record in filled()}
    # Another image tag: the plan a request builds is no longer the pool lessons'.
    changed = settings.model_copy(update={"image_tag": "v2"})
    client = LessonClient(changed, registry=client.registry, producer=RecordingProducer())

    fresh = client.create("linux-basics", "frank")
    report = refill(dataclasses.replace(runtime, settings=changed))["linux-basics"]

    assert fresh.id not in old and not fresh.pooled
    assert sorted(report["retired"]) == sorted(old)


def test_keepalive_leaves_an_unclaimed_pool_lesson_without_expiry(
    filled: Callable[[], list[LessonRecord]], client: LessonClient
) -> None:
    lesson = filled()[0]

    assert client.keepalive(lesson.id).expires_at is None


def test_pool_sizes_are_checked_before_any_is_set(client: LessonClient) -> None:
    with pytest.raises(PoolSizeError) as refused:
        client.set_pools({"no-such-lesson": 1, "linux-basics": -1, "snapshot-testing": 2})

    assert [slug for slug, _ in refused.value.problems] == ["no-such-lesson", "linux-basics"]
    assert {pool.slug: pool.size for pool in client.pools()} == {"linux-basics": 2}


def test_sizes_set_by_operators_win_over_the_setting_and_start_a_refill(
    client: LessonClient, producer: RecordingProducer
) -> None:
    pools = client.set_pools({"linux-basics": 0, "snapshot-testing": 1})

    assert {pool.slug: pool.size for pool in pools} == {"linux-basics": 0, "snapshot-testing": 1}
    assert [m.task for m in producer.take()] == [Job.POOL_REFILL]


def test_a_refill_never_retires_a_lesson_claimed_since_it_looked(
    filled: Callable[[], list[LessonRecord]],
    client: LessonClient,
    runtime: Runtime,
    kube: FakeKube,
    registry: LessonRegistry,
) -> None:
    first, second = filled()
    # Its pod restarts, and a session claims it before the refill retires it.
    restart_a_pod(kube, first)
    claimed = {client.create("linux-basics", f"s{i}").id for i in range(2)}
    assert claimed == {first.id, second.id}

    assert registry.begin_teardown([first.id], unclaimed_only=True) == []
    assert registry.require(first.id).state is LessonState.READY


def test_labels_the_api_refuses_leave_the_claimed_lesson_ready_and_a_transient_error_retries(
    filled: Callable[[], list[LessonRecord]],
    client: LessonClient,
    runtime: Runtime,
    kube: FakeKube,
    producer: RecordingProducer,
    registry: LessonRegistry,
) -> None:
    filled()
    claimed = client.create("linux-basics", "gina")
    [message] = producer.take()
    kube.fail("patch", TransientError("the API is busy", status=503))

    again = hand_over(runtime, message.payload)

    assert again is not None and again.payload.attempt == 1
    kube.fail("patch", PermanentError("forbidden", status=403, reason="Forbidden"))
    assert hand_over(runtime, again.payload) is None
    assert registry.require(claimed.id).state is LessonState.READY
    # The retry did not refill the pool a second time.
    assert len(registry.pools.members("linux-basics")) == 2


def test_a_lesson_given_as_a_model_equal_to_the_curriculums_claims_too(
    filled: Callable[[], list[LessonRecord]], client: LessonClient
) -> None:
    pool = {record.id for record in filled()}
    lesson = client.curriculum.lesson("linux-basics").model_copy(deep=True)

    assert client.create(lesson, "hana").id in pool
    changed = lesson.model_copy(update={"ready_delay": 7})
    assert client.create(changed, "ivan").id not in pool
