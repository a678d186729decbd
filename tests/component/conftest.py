"""Fast tests of the worker-side logic: the real registry on a real Redis (one server for the
whole run, a fresh instance id per test), with the cluster, the queue and the clock in memory.

A test changes settings with ``@pytest.mark.settings(name=value, ...)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings, load_settings
from devstack.local import RedisServer
from jobs import StepPayload
from lessons.curriculum import Curriculum, load_curriculum
from lessons.files import read_lesson_files
from lessons.plan import build_plan
from lessons.state import LessonRecord
from lessons.steps import PIPELINE, Desired, Step
from registry import LessonRegistry, NotStarted, connect, new_lesson_id
from tasks.observers import LogLine, StepMetrics
from tasks.reconcile import Reconciler
from tasks.runtime import Runtime
from tasks.steps import StepContext
from tests.fakes.clock import FakeClock
from tests.fakes.kube import FakeKube
from tests.fakes.observer import Recorder
from tests.fakes.producer import RecordingProducer
from tests.fakes.worker import FakeWorker
from tests.support.settings import TEST_SETTINGS

_instances = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**values): settings of the test's own")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=False).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def curriculum() -> Curriculum:
    return load_curriculum(Path(TEST_SETTINGS["curriculum"]))


@pytest.fixture
def settings(redis_url: str, request: pytest.FixtureRequest) -> Settings:
    """The tests' settings, on an instance of this test's own (its own keys in Redis), with
    what the test's `settings` mark changes."""
    marker = request.node.get_closest_marker("settings")
    changes = marker.kwargs if marker is not None else {}
    return load_settings(
        **{
            **TEST_SETTINGS,
            **changes,
            "redis_url": redis_url,
            "instance_id": f"c{next(_instances)}",
        }
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def producer() -> RecordingProducer:
    return RecordingProducer()


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
def registry(settings: Settings, clock: FakeClock) -> LessonRegistry:
    return LessonRegistry(connect(settings.redis_url), settings, clock)


@pytest.fixture
def runtime(
    settings: Settings,
    clock: FakeClock,
    registry: LessonRegistry,
    kube: FakeKube,
    producer: RecordingProducer,
    events: Recorder,
) -> Iterator[Runtime]:
    objects = Reconciler(kube, settings.api_parallelism)
    yield Runtime(
        settings=settings,
        clock=clock,
        registry=registry,
        kube=kube,
        objects=objects,
        producer=producer,
        observers=(events, LogLine(), StepMetrics()),
    )
    objects.close()


@pytest.fixture
def new_lesson(
    registry: LessonRegistry, settings: Settings, curriculum: Curriculum
) -> Callable[..., LessonRecord]:
    """Register a lesson of the example curriculum, as the intake would (nothing is sent)."""
    sessions = itertools.count()

    def register(slug: str = "linux-basics", session_id: str | None = None) -> LessonRecord:
        files, _ = read_lesson_files(
            curriculum.root / "lessons" / slug, settings.lesson_file_max_bytes
        )
        plan = build_plan(
            curriculum.lesson(slug),
            curriculum.images,
            lesson_id=new_lesson_id(),
            session_id=session_id or f"s{next(sessions)}",
            settings=settings,
            files=files,
        )
        record = registry.create(plan, files=files).record
        return record

    return register


@pytest.fixture
def in_cluster(
    registry: LessonRegistry, kube: FakeKube, new_lesson: Callable[..., LessonRecord]
) -> Callable[..., LessonRecord]:
    """Register a lesson and put every object its steps up to the pods create in the cluster,
    as those steps would have (pods pending, nothing configured); the calls are forgotten."""

    def register(slug: str = "linux-basics", session_id: str | None = None) -> LessonRecord:
        record = new_lesson(slug, session_id)
        plan = registry.plan(record.id)
        desired = Desired(plan, files=lambda: registry.files(str(plan.files_version)))
        for step, spec in PIPELINE.items():
            if step in (Step.READINESS, Step.CONFIGURE):
                continue
            for manifest in spec.creates(desired) if spec.creates is not None else []:
                kube.create(manifest)
            # Done in the record too: readiness and configure run once what they need is.
            assert not isinstance(registry.start_step(record.id, step), NotStarted)
            registry.complete_step(record.id, step)
        kube.calls.clear()
        return registry.require(record.id)

    return register


@pytest.fixture
def step_context(runtime: Runtime) -> Callable[..., StepContext]:
    """The context a step's body gets, for a lesson as its record is now; `counters` are the
    payload's (attempt, polls, ready_since)."""

    def build(record: LessonRecord, step: Step, **counters: Any) -> StepContext:
        current = runtime.registry.require(record.id)
        payload = StepPayload.of(current).model_copy(update=counters)
        return StepContext.of(runtime, step, current, runtime.registry.plan(record.id), payload)

    return build


@pytest.fixture
def worker(runtime: Runtime, clock: FakeClock, producer: RecordingProducer) -> FakeWorker:
    """Runs what the producer sent (and what asks to run again), moving the clock."""
    return FakeWorker(runtime, clock, producer)


@pytest.fixture
def ready_lesson(
    new_lesson: Callable[..., LessonRecord],
    worker: FakeWorker,
    kube: FakeKube,
    producer: RecordingProducer,
) -> Callable[..., LessonRecord]:
    """Register a lesson and run it to READY at stage 0, as the intake and workers would: every
    pod runs and every configuration Job succeeds (the record returned is as registered)."""

    def provision(slug: str = "linux-basics") -> LessonRecord:
        record = new_lesson(slug)

        def the_cluster_works() -> None:
            kube.run_pods(record.namespace)
            kube.finish_jobs(record.namespace)

        worker.between = the_cluster_works
        producer.steps([Step.NAMESPACE], StepPayload.of(record))
        worker.run()
        return record

    return provision
