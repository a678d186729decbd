"""VNIs for overlay links: allocated atomically in Redis, unique among live lessons, the same
ones for a step delivered twice, and kept out of use for a quarantine after their lesson goes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from jobs import StepPayload
from kube.kinds import NETWORK_ATTACHMENT_DEFINITION as NAD
from lessons.manifests import VNI_ANNOTATION
from lessons.state import LessonRecord, LessonState
from registry import LessonRegistry, VnisExhausted
from tests.fakes.clock import FakeClock
from tests.fakes.kube import FakeKube
from tests.fakes.worker import FakeWorker

NewLesson = Callable[..., LessonRecord]

pytestmark = pytest.mark.settings(vni_range="100-109", vni_quarantine=60)


def gone(registry: LessonRegistry, lesson_id: str) -> None:
    assert registry.begin_teardown([lesson_id]) == [lesson_id]
    assert registry.finish_teardown(lesson_id)


def test_a_lesson_gets_distinct_vnis_and_the_same_ones_again(
    new_lesson: NewLesson, registry: LessonRegistry
) -> None:
    first, second = new_lesson(), new_lesson()

    vnis = registry.allocate_vnis(first.id, 3)
    assert vnis == [100, 101, 102]
    assert registry.allocate_vnis(first.id, 3) == vnis
    assert registry.require(first.id).vnis == vnis
    assert registry.allocate_vnis(second.id, 2) == [103, 104]


def test_vnis_of_a_lesson_gone_stay_in_quarantine_then_come_back(
    new_lesson: NewLesson, registry: LessonRegistry, clock: FakeClock
) -> None:
    first = new_lesson()
    assert registry.allocate_vnis(first.id, 8) == list(range(100, 108))
    gone(registry, first.id)

    # Only 108 and 109 are free: quarantine keeps the rest out of use.
    with pytest.raises(VnisExhausted, match="3 VNIs wanted, 2 free in LESSONQ_VNI_RANGE 100-109"):
        registry.allocate_vnis(new_lesson().id, 3)
    clock.advance(61)
    assert registry.allocate_vnis(new_lesson().id, 3) == [108, 109, 100]


def test_a_lesson_no_longer_provisioning_gets_none(
    new_lesson: NewLesson, registry: LessonRegistry
) -> None:
    record = new_lesson()
    assert registry.begin_teardown([record.id])

    assert registry.allocate_vnis(record.id, 2) is None


@pytest.mark.settings(vni_range="1-16777215", vni_quarantine=60)
def test_lessons_allocating_at_once_never_share_a_vni(
    new_lesson: NewLesson, registry: LessonRegistry
) -> None:
    lessons = [new_lesson() for _ in range(20)]
    start = threading.Barrier(10)

    def allocate(record: LessonRecord) -> list[int]:
        start.wait()
        vnis = registry.allocate_vnis(record.id, 5)
        assert vnis is not None
        return vnis

    with ThreadPoolExecutor(10) as threads:
        allocated = [vni for vnis in threads.map(allocate, lessons) for vni in vnis]

    assert len(allocated) == len(set(allocated)) == 100


@pytest.mark.settings(links="overlay", vni_range="100-102", vni_quarantine=60)
def test_the_networks_step_of_an_overlay_lesson_annotates_each_link_with_its_vni(
    ready_lesson: Callable[..., LessonRecord],
    new_lesson: NewLesson,
    registry: LessonRegistry,
    kube: FakeKube,
    worker: FakeWorker,
    clock: FakeClock,
) -> None:
    record = ready_lesson("snapshot-testing")
    plan = registry.plan(record.id)
    vnis = registry.require(record.id).vnis

    assert vnis == [100, 101, 102] and len(plan.links) == 3
    for link in plan.links:
        nad = kube.objects[(NAD.kind, record.namespace, link.name)]
        assert nad["metadata"]["annotations"][VNI_ANNOTATION] == str(vnis[link.index])
        assert json.loads(nad["spec"]["config"])["mtu"] == 1450
    # Torn down: its VNIs go into quarantine, then come back.
    registry.begin_teardown([record.id])
    worker.producer.teardown(StepPayload.of(registry.require(record.id)))
    worker.between = lambda: kube.finish_terminating(record.namespace)
    worker.run()
    assert registry.state(record.id) is LessonState.GONE
    with pytest.raises(VnisExhausted):
        registry.allocate_vnis(new_lesson().id, 1)
    clock.advance(61)
    assert registry.allocate_vnis(new_lesson().id, 3) == [100, 101, 102]
