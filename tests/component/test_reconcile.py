"""Making objects exist (``tasks.reconcile.Reconciler``): create what is missing, accept what is
there and ours, refuse what is someone else's; many at once, a permanent error first."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from kube import KubeError, Obj, PermanentError, TransientError
from kube.kinds import SERVICE
from lessons.naming import LESSON_ID
from tasks.reconcile import Reconciler
from tests.fakes.kube import FakeKube

OWNER = "0123456789abcdef"
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lesson-ns"}}


def service(name: str, owner: str | None = OWNER) -> Obj:
    labels = {LESSON_ID: owner} if owner is not None else {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "lesson-ns", "labels": labels},
        "spec": {"ports": [{"port": 22}]},
    }


@pytest.fixture
def cluster() -> FakeKube:
    kube = FakeKube()
    kube.put(NAMESPACE)
    return kube


@pytest.fixture
def objects(cluster: FakeKube) -> Iterator[Reconciler]:
    reconciler = Reconciler(cluster, parallelism=8)
    yield reconciler
    reconciler.close()


def test_a_missing_object_is_created(objects: Reconciler, cluster: FakeKube) -> None:
    found = objects.create_or_get(service("r1"))

    assert found.created
    assert cluster.verbs() == ["create"]
    assert found.obj == cluster.read(SERVICE, "r1", "lesson-ns")


def test_an_object_that_exists_is_read_and_returned(objects: Reconciler, cluster: FakeKube) -> None:
    there = cluster.put(service("r1", owner="someone"))

    found = objects.create_or_get(service("r1"))

    assert not found.created
    assert found.obj == there
    assert cluster.verbs() == ["create", "read"]


def test_an_object_deleted_between_the_create_and_the_read_is_tried_again(
    objects: Reconciler, cluster: FakeKube
) -> None:
    # The create lost to an object that was gone again by the time we read it.
    cluster.fail(
        "create",
        PermanentError('services "r1" already exists', status=409, reason="AlreadyExists"),
    )

    with pytest.raises(TransientError, match="Service lesson-ns/r1 was deleted while we created"):
        objects.create_or_get(service("r1"))


def test_any_other_refusal_of_the_create_is_raised_as_it_is(
    objects: Reconciler, cluster: FakeKube
) -> None:
    refusal = PermanentError("services is forbidden", status=403, reason="Forbidden")
    cluster.fail("create", refusal)

    with pytest.raises(PermanentError) as raised:
        objects.create_or_get(service("r1"))

    assert raised.value is refusal
    assert cluster.verbs() == ["create"]


def test_ensure_accepts_the_owners_object_and_refuses_anyone_elses(
    objects: Reconciler, cluster: FakeKube
) -> None:
    mine = cluster.put(service("mine"))
    cluster.put(service("theirs", owner="fedcba9876543210"))
    cluster.put(service("nobodys", owner=None))

    assert objects.ensure(service("mine"), OWNER) == mine
    with pytest.raises(PermanentError, match="belongs to lesson fedcba9876543210"):
        objects.ensure(service("theirs"), OWNER)
    with pytest.raises(PermanentError, match="belongs to something not managed by lessonq"):
        objects.ensure(service("nobodys"), OWNER)


def test_ensure_all_returns_every_object_in_the_order_asked(
    objects: Reconciler, cluster: FakeKube
) -> None:
    existing = cluster.put(service("b"))

    made = objects.ensure_all([service("a"), service("b"), service("c")], OWNER)

    assert [obj["metadata"]["name"] for obj in made] == ["a", "b", "c"]
    assert made[1] == existing
    assert cluster.names(SERVICE, "lesson-ns") == ["a", "b", "c"]


def test_ensure_all_of_nothing_is_nothing(objects: Reconciler, cluster: FakeKube) -> None:
    assert objects.ensure_all([], OWNER) == []
    assert cluster.calls == []


@pytest.mark.parametrize("order", ["transient-first", "permanent-first"])
def test_a_permanent_error_wins_over_a_transient_one(
    order: str, objects: Reconciler, cluster: FakeKube
) -> None:
    transient = TransientError("the server is busy", status=503)
    permanent = PermanentError("services is forbidden", status=403, reason="Forbidden")
    errors: list[KubeError] = [transient, permanent]
    cluster.fail("create", *(errors if order == "transient-first" else errors[::-1]))

    with pytest.raises(PermanentError) as raised:
        objects.ensure_all([service("a"), service("b"), service("c")], OWNER)

    assert raised.value is permanent
    # The third was made all the same.
    assert len(cluster.names(SERVICE, "lesson-ns")) == 1


def test_transient_errors_alone_are_raised_for_a_retry(
    objects: Reconciler, cluster: FakeKube
) -> None:
    first = TransientError("the server is busy", status=503)
    cluster.fail("create", first, TransientError("too many requests", status=429))

    with pytest.raises(TransientError):
        objects.ensure_all([service("a"), service("b")], OWNER)


class MeetingKube(FakeKube):
    """Each create waits for `expected` creates to be in flight at once."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.meeting = threading.Barrier(expected, timeout=5)

    def create(self, manifest: Obj) -> Obj:
        if manifest["kind"] != "Namespace":
            self.meeting.wait()
        return super().create(manifest)


def test_all_objects_are_created_in_parallel() -> None:
    kube = MeetingKube(expected=6)
    kube.create(NAMESPACE)
    objects = Reconciler(kube, parallelism=6)
    try:
        # Sequential creates would leave the first waiting alone, and the barrier would break.
        made = objects.ensure_all([service(f"s{i}") for i in range(6)], OWNER)
    finally:
        objects.close()

    assert len(made) == 6
    assert not kube.meeting.broken
