"""The bodies of the provisioning steps (``tasks.steps``): claiming the namespace (and clearing
the way for it), making a step's objects exist, and waiting for the pods to be ready."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kube import Obj, PermanentError, TransientError, WatchEvent
from kube.kinds import NAMESPACE, POD, SECRET, kind_of
from lessons.manifests import TLS_NAME
from lessons.naming import GUIDE_NAME, INSTANCE, LESSON_ID, MANAGED
from lessons.plan import LessonPlan
from lessons.state import LessonRecord, LessonState
from lessons.steps import Step
from registry import LessonRegistry, NotStarted, new_lesson_id
from tasks.outcomes import Reason
from tasks.steps import (
    Again,
    Done,
    StepContext,
    Stop,
    claim_namespace,
    expose,
    make_exist,
    poll_pause,
    readiness,
)
from tests.fakes.clock import FakeClock
from tests.fakes.kube import READY_STATUS, Call, FakeKube
from tests.fakes.producer import RecordingProducer

Context = Callable[..., StepContext]
NewLesson = Callable[..., LessonRecord]


def namespace_of(plan: LessonPlan, labels: dict[str, str], **metadata: Any) -> Obj:
    """A namespace with the plan's name, as someone else left it."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": plan.namespace, "labels": labels, **metadata},
    }


def lesson_labels(plan: LessonPlan, lesson_id: str) -> dict[str, str]:
    """This instance's labels, for lesson `lesson_id`."""
    return {**plan.labels(), LESSON_ID: lesson_id}


# --- claim_namespace ------------------------------------------------------------------------


def test_a_new_namespace_is_created_with_the_lesson_labels_and_its_uid_recorded(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = new_lesson()
    ctx = step_context(record, Step.NAMESPACE)

    assert claim_namespace(ctx) == Done()

    created = kube.read(NAMESPACE, ctx.plan.namespace)
    assert created is not None
    assert created["metadata"]["labels"][LESSON_ID] == record.id
    assert registry.require(record.id).namespace_uid == created["metadata"]["uid"]


def test_the_lessons_own_namespace_from_an_earlier_attempt_is_accepted(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = new_lesson()
    ctx = step_context(record, Step.NAMESPACE)
    earlier = kube.put(namespace_of(ctx.plan, lesson_labels(ctx.plan, record.id)))

    assert claim_namespace(ctx) == Done()

    assert registry.require(record.id).namespace_uid == earlier["metadata"]["uid"]
    assert "delete" not in kube.verbs()


def test_a_lesson_torn_down_while_its_namespace_was_created_deletes_it_and_stops(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = new_lesson()
    ctx = step_context(record, Step.NAMESPACE)

    def teardown_meanwhile(call: Call) -> None:
        if call.verb == "create":
            registry.begin_teardown([record.id])

    kube.on_call = teardown_meanwhile

    assert claim_namespace(ctx) == Stop()

    left = kube.read(NAMESPACE, ctx.plan.namespace)
    assert left is not None and "deletionTimestamp" in left["metadata"]
    # The uid is recorded all the same: the teardown deletes by it.
    assert registry.require(record.id).namespace_uid == left["metadata"]["uid"]


def test_an_earlier_lessons_namespace_still_terminating_is_waited_for(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = new_lesson()
    ctx = step_context(record, Step.NAMESPACE)
    kube.put(
        namespace_of(
            ctx.plan,
            lesson_labels(ctx.plan, new_lesson_id()),
            deletionTimestamp="2026-01-01T00:00:00Z",
        )
    )

    with pytest.raises(TransientError, match="still terminating") as raised:
        claim_namespace(ctx)

    assert raised.value.retry_after == 1
    assert "delete" not in kube.verbs()
    assert registry.require(record.id).namespace_uid is None


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param({}, id="no-labels"),
        pytest.param({MANAGED: "true", INSTANCE: "another-instance"}, id="other-instance"),
        pytest.param({INSTANCE: "SELF"}, id="not-managed"),
        pytest.param({MANAGED: "false", INSTANCE: "SELF"}, id="managed-false"),
    ],
)
def test_a_namespace_not_managed_by_this_instance_is_refused(
    labels: dict[str, str],
    new_lesson: NewLesson,
    step_context: Context,
    kube: FakeKube,
) -> None:
    record = new_lesson()
    ctx = step_context(record, Step.NAMESPACE)
    labels = {k: ctx.plan.instance_id if v == "SELF" else v for k, v in labels.items()}
    kube.put(namespace_of(ctx.plan, labels))

    with pytest.raises(PermanentError, match="not managed by lessonq instance") as raised:
        claim_namespace(ctx)

    assert repr(ctx.plan.instance_id) in raised.value.message
    assert "delete" not in kube.verbs()


def test_the_namespace_of_another_lesson_tearing_down_is_waited_for(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    other = new_lesson("snapshot-testing")
    registry.begin_teardown([other.id])
    record = new_lesson()
    ctx = step_context(record, Step.NAMESPACE)
    kube.put(namespace_of(ctx.plan, lesson_labels(ctx.plan, other.id)))

    with pytest.raises(TransientError, match=f"of lesson {other.id} is being torn down") as raised:
        claim_namespace(ctx)

    assert raised.value.retry_after == 1
    assert "delete" not in kube.verbs()


@pytest.mark.parametrize("state", [LessonState.QUEUED, LessonState.FAILED, LessonState.READY])
def test_the_namespace_of_another_live_lesson_is_refused(
    state: LessonState,
    new_lesson: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
) -> None:
    other = new_lesson("snapshot-testing")
    if state is LessonState.FAILED:
        registry.fail(other.id, "pods: boom")
    elif state is LessonState.READY:
        for step in Step:
            assert not isinstance(registry.start_step(other.id, step), NotStarted)
            registry.complete_step(other.id, step)
    assert registry.state(other.id) is state
    record = new_lesson()
    ctx = step_context(record, Step.NAMESPACE)
    kube.put(namespace_of(ctx.plan, lesson_labels(ctx.plan, other.id)))

    with pytest.raises(PermanentError, match=f"belongs to live lesson {other.id}"):
        claim_namespace(ctx)

    assert "delete" not in kube.verbs()


@pytest.mark.parametrize("whose", ["gone", "no-record", "no-id-label"])
def test_an_orphan_namespace_is_deleted_and_the_step_tries_again(
    whose: str,
    new_lesson: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
) -> None:
    record = new_lesson()
    ctx = step_context(record, Step.NAMESPACE)
    if whose == "gone":
        other = new_lesson("snapshot-testing").id
        registry.begin_teardown([other])
        registry.finish_teardown(other)
        labels = lesson_labels(ctx.plan, other)
    elif whose == "no-record":
        other = new_lesson_id()
        labels = lesson_labels(ctx.plan, other)
    else:
        other = "?"
        labels = {k: v for k, v in ctx.plan.labels().items() if k != LESSON_ID}
    orphan = kube.put(namespace_of(ctx.plan, labels))

    pattern = f"removing orphan namespace {ctx.plan.namespace} of lesson {re.escape(other)}$"
    with pytest.raises(TransientError, match=pattern) as raised:
        claim_namespace(ctx)

    assert raised.value.retry_after == 1
    after = kube.read(NAMESPACE, ctx.plan.namespace)
    assert after is not None
    assert after["metadata"]["uid"] == orphan["metadata"]["uid"]
    assert "deletionTimestamp" in after["metadata"]
    assert registry.require(record.id).namespace_uid is None


# --- make_exist -----------------------------------------------------------------------------


@pytest.mark.parametrize("step", [Step.NETWORKS, Step.POLICIES, Step.SERVICES, Step.PODS])
def test_a_step_creates_every_object_of_its_entry_in_the_pipeline(
    step: Step, new_lesson: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = new_lesson("snapshot-testing")
    assert claim_namespace(step_context(record, Step.NAMESPACE)) == Done()
    ctx = step_context(record, step)
    wanted = {(m["kind"], m["metadata"]["name"]) for m in ctx.manifests}
    assert wanted  # snapshot-testing has something of every kind

    assert make_exist(ctx) == Done()

    stored = {
        (obj["kind"], obj["metadata"]["name"])
        for (_, namespace, _), obj in kube.objects.items()
        if namespace == ctx.plan.namespace
    }
    assert stored == wanted
    assert all(
        obj["metadata"]["labels"][LESSON_ID] == record.id
        for (_, namespace, _), obj in kube.objects.items()
        if namespace == ctx.plan.namespace
    )


def test_objects_that_exist_and_are_the_lessons_own_are_accepted_as_they_are(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster("snapshot-testing")
    ctx = step_context(record, Step.SERVICES)

    def uids() -> dict[str, str]:
        found = {}
        for manifest in ctx.manifests:
            name = manifest["metadata"]["name"]
            obj = kube.read(kind_of(manifest), name, ctx.plan.namespace)
            assert obj is not None
            found[name] = obj["metadata"]["uid"]
        return found

    before = uids()

    assert make_exist(ctx) == Done()

    assert uids() == before
    assert kube.verbs().count("create") == len(before) == 4


@pytest.mark.parametrize(
    ("owner", "whose"),
    [
        pytest.param("other-lesson", "belongs to lesson", id="other-lesson"),
        pytest.param(None, "belongs to something not managed by lessonq", id="unmanaged"),
    ],
)
def test_an_object_that_belongs_to_someone_else_is_refused(
    owner: str | None,
    whose: str,
    new_lesson: NewLesson,
    step_context: Context,
    kube: FakeKube,
) -> None:
    record = new_lesson("snapshot-testing")
    assert claim_namespace(step_context(record, Step.NAMESPACE)) == Done()
    ctx = step_context(record, Step.PODS)
    taken = dict(ctx.manifests[1])
    labels = {} if owner is None else {**ctx.plan.labels(), LESSON_ID: new_lesson_id()}
    kube.put({**taken, "metadata": {**taken["metadata"], "labels": labels}})

    with pytest.raises(PermanentError, match=whose) as raised:
        make_exist(ctx)

    assert f"Pod {ctx.plan.namespace}/{taken['metadata']['name']}" in raised.value.message
    # The others were made all the same: the next attempt, if any, finds them.
    assert len(kube.names(POD, ctx.plan.namespace)) == len(ctx.manifests)


# --- expose: the services step ------------------------------------------------------------

DOMAIN = "labs.example.com"
WEB_PAGES = pytest.mark.settings(
    presentation_domain=DOMAIN, presentation_tls_secret="labs-tls", namespace="lab-system"
)
CERTIFICATE: Obj = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "labs-tls", "namespace": "lab-system"},
    "type": "kubernetes.io/tls",
    "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
}


def in_namespace(kube: FakeKube, namespace: str) -> set[tuple[str, str]]:
    return {(kind, name) for (kind, ns, name) in kube.objects if ns == namespace}


@WEB_PAGES
def test_the_services_step_copies_the_certificate_in_then_makes_services_and_ingresses(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = new_lesson("bgp-spine-leaf")  # server1's web page, and a Jupyter guide
    assert claim_namespace(step_context(record, Step.NAMESPACE)) == Done()
    kube.put(CERTIFICATE)
    kube.calls.clear()
    ctx = step_context(record, Step.SERVICES)

    assert expose(ctx) == Done()

    made = in_namespace(kube, record.namespace)
    ingresses = {name for kind, name in made if kind == "Ingress"}
    assert len(ingresses) == 2 and GUIDE_NAME in ingresses
    assert {("Service", e.name) for e in ctx.plan.endpoints} | {("Service", GUIDE_NAME)} <= made
    copy = kube.read(SECRET, TLS_NAME, record.namespace)
    assert copy is not None
    assert (copy["type"], copy["data"]) == (CERTIFICATE["type"], CERTIFICATE["data"])
    assert copy["metadata"]["labels"] == ctx.plan.labels()
    # The original is read where lessonq runs; the copy is made before the Ingresses naming it.
    assert kube.calls[:2] == [
        Call("read", "Secret", "lab-system", "labs-tls"),
        Call("create", "Secret", record.namespace, TLS_NAME),
    ]


@pytest.mark.parametrize(
    ("slug", "ingresses"),
    [
        pytest.param(
            "bgp-spine-leaf",
            2,
            marks=pytest.mark.settings(presentation_domain=DOMAIN, namespace="lab-system"),
            id="no-tls",
        ),
        pytest.param("linux-basics", 0, marks=WEB_PAGES, id="no-web-pages"),
        pytest.param(
            "bgp-spine-leaf",
            0,
            marks=pytest.mark.settings(presentation_tls_secret="labs-tls"),
            id="no-domain",
        ),
    ],
)
def test_without_tls_or_without_web_pages_no_certificate_is_read_or_copied(
    slug: str, ingresses: int, new_lesson: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = new_lesson(slug)
    assert claim_namespace(step_context(record, Step.NAMESPACE)) == Done()
    ctx = step_context(record, Step.SERVICES)

    assert expose(ctx) == Done()

    made = in_namespace(kube, record.namespace)
    assert sum(1 for kind, _ in made if kind == "Ingress") == ingresses
    assert ("Secret", TLS_NAME) not in made
    assert all(call.kind != "Secret" for call in kube.calls)
    assert {("Service", e.name) for e in ctx.plan.endpoints} <= made


@WEB_PAGES
def test_a_missing_certificate_fails_the_lesson_before_anything_is_made(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = new_lesson("bgp-spine-leaf")
    assert claim_namespace(step_context(record, Step.NAMESPACE)) == Done()

    with pytest.raises(PermanentError) as raised:
        expose(step_context(record, Step.SERVICES))

    assert raised.value.message == (
        "the web pages' certificate, Secret lab-system/labs-tls "
        "(LESSONQ_PRESENTATION_TLS_SECRET), does not exist"
    )
    assert in_namespace(kube, record.namespace) == set()


@WEB_PAGES
def test_a_certificate_that_cannot_be_read_yet_is_retried(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = new_lesson("bgp-spine-leaf")
    assert claim_namespace(step_context(record, Step.NAMESPACE)) == Done()
    kube.put(CERTIFICATE)
    kube.fail("read", TransientError("the API server is busy"))

    with pytest.raises(TransientError):
        expose(step_context(record, Step.SERVICES))

    assert in_namespace(kube, record.namespace) == set()


@WEB_PAGES
def test_a_copy_from_an_earlier_attempt_is_accepted_and_one_of_someone_else_refused(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = new_lesson("bgp-spine-leaf")
    assert claim_namespace(step_context(record, Step.NAMESPACE)) == Done()
    kube.put(CERTIFICATE)
    assert expose(step_context(record, Step.SERVICES)) == Done()
    first = kube.read(SECRET, TLS_NAME, record.namespace)
    assert first is not None

    assert expose(step_context(record, Step.SERVICES)) == Done()

    again = kube.read(SECRET, TLS_NAME, record.namespace)
    assert again is not None and again["metadata"]["uid"] == first["metadata"]["uid"]
    kube.delete(SECRET, TLS_NAME, first["metadata"]["uid"], record.namespace)
    kube.put({**first, "metadata": {**first["metadata"], "labels": {}}})
    with pytest.raises(PermanentError, match="belongs to something not managed by lessonq"):
        expose(step_context(record, Step.SERVICES))


# --- readiness ------------------------------------------------------------------------------


def ready(kube: FakeKube, namespace: str, *names: str) -> list[WatchEvent]:
    """The kubelet marks these pods ready: the watch events it causes."""
    return [WatchEvent("MODIFIED", kube.set_pod_status(namespace, n, READY_STATUS)) for n in names]


def test_pods_all_ready_finish_the_lesson_without_watching(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = in_cluster("linux-basics")
    kube.run_pods(record.namespace)

    assert readiness(step_context(record, Step.READINESS)) == Done()

    assert "watch" not in kube.verbs()
    after = registry.require(record.id)
    assert (after.healthy, after.total) == (1, 1)


def test_ready_pods_finish_the_step_at_once_the_ready_delay_comes_after_configuration(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster("snapshot-testing")  # readyDelay: 3, waited by the configure step
    kube.run_pods(record.namespace)

    assert readiness(step_context(record, Step.READINESS, polls=2)) == Done()


@pytest.mark.settings(readiness_watch=4, stall_timeout=10)
def test_pods_not_ready_while_work_waits_are_looked_at_again_after_growing_pauses(
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
    producer: RecordingProducer,
) -> None:
    record = in_cluster("snapshot-testing")
    producer.queued = 3

    pauses = []
    for polls in range(5):
        again = readiness(step_context(record, Step.READINESS, polls=polls))
        assert isinstance(again, Again)
        assert again.polls == polls + 1 and again.ready_since is None
        pauses.append(again.countdown)

    assert pauses == [1, 2, 4, 4, 4]
    assert pauses == [poll_pause(polls, 4) for polls in range(5)]
    assert "watch" not in kube.verbs()


def test_the_last_look_is_at_the_provisioning_deadline(
    in_cluster: NewLesson, step_context: Context, producer: RecordingProducer, clock: FakeClock
) -> None:
    record = in_cluster("snapshot-testing")
    producer.queued = 1
    clock.advance(record.deadline - clock.now() - 0.25)

    again = readiness(step_context(record, Step.READINESS, polls=3))

    assert isinstance(again, Again)
    assert (again.ready_since, again.polls) == (None, 4)
    assert again.countdown == pytest.approx(0.25)


def test_with_the_queue_idle_the_step_watches_and_notices_readiness_at_once(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = in_cluster("bgp-spine-leaf")
    ctx = step_context(record, Step.READINESS)
    names = ctx.plan.pods()  # eight endpoints and the Jupyter guide
    healthy_seen: list[int] = []

    def events() -> list[WatchEvent]:
        healthy_seen.append(registry.require(record.id).healthy)
        return ready(kube, record.namespace, *names)

    kube.watch_events = events

    again = readiness(ctx)

    # readyDelay 2 starts now that every endpoint is ready.
    assert again == Done()
    assert healthy_seen == [0]
    after = registry.require(record.id)
    assert after.healthy == after.total == len(names) - 1 == 8
    assert kube.verbs() == ["list", "watch"]


def test_the_jupyter_guide_is_waited_for_but_not_counted_as_an_endpoint(
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
    producer: RecordingProducer,
) -> None:
    record = in_cluster("bgp-spine-leaf")
    producer.queued = 1  # work waits: the step looks without watching
    ctx = step_context(record, Step.READINESS)
    ready(kube, record.namespace, *(endpoint.name for endpoint in ctx.plan.endpoints))

    assert readiness(ctx) == Again(countdown=1, polls=1)

    after = registry.require(record.id)
    assert (after.healthy, after.total) == (8, 8)
    ready(kube, record.namespace, GUIDE_NAME)
    assert readiness(step_context(record, Step.READINESS, polls=1)) == Done()
    assert registry.require(record.id).healthy == 8


def test_a_guide_not_ready_at_the_deadline_is_named_among_what_the_lesson_waits_for(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube, clock: FakeClock
) -> None:
    record = in_cluster("bgp-spine-leaf")
    ctx = step_context(record, Step.READINESS)
    ready(kube, record.namespace, *(endpoint.name for endpoint in ctx.plan.endpoints))
    clock.advance(record.deadline - clock.now())

    with pytest.raises(PermanentError) as raised:
        readiness(ctx)

    assert raised.value.message == (
        f"8/8 endpoints ready at the provisioning deadline; waiting: {GUIDE_NAME} (Pending)"
    )


def test_a_guide_that_can_never_start_fails_the_step(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster("bgp-spine-leaf")
    ctx = step_context(record, Step.READINESS)
    waiting = {"reason": "ErrImageNeverPull", "message": "the image is not on the node"}
    kube.set_pod_status(
        record.namespace,
        GUIDE_NAME,
        {
            "phase": "Pending",
            "containerStatuses": [{"name": "jupyter", "state": {"waiting": waiting}}],
        },
    )

    with pytest.raises(PermanentError) as raised:
        readiness(ctx)

    assert (
        raised.value.message == f"pod {GUIDE_NAME}: ErrImageNeverPull: the image is not on the node"
    )


def test_a_watch_that_ends_before_readiness_looks_again_after_a_pause(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = in_cluster("snapshot-testing")
    ctx = step_context(record, Step.READINESS)
    first, second = (endpoint.name for endpoint in ctx.plan.endpoints[:2])

    def events() -> list[WatchEvent]:
        booting = {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "device", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ],
        }
        moved = ready(kube, record.namespace, first, second)
        again = WatchEvent("MODIFIED", kube.set_pod_status(record.namespace, first, booting))
        gone = kube.read(POD, second, record.namespace)
        assert gone is not None
        return [*moved, again, WatchEvent("DELETED", gone)]

    kube.watch_events = events

    again = readiness(ctx)

    assert again == Again(countdown=1, polls=1)
    # The pod deleted no longer counts; the one that went back to booting neither.
    assert registry.require(record.id).healthy == 0


def test_a_watch_that_sees_nothing_new_looks_again(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = in_cluster("snapshot-testing")
    ctx = step_context(record, Step.READINESS)
    name = ctx.plan.endpoints[0].name

    def events() -> list[WatchEvent]:
        pod = kube.read(POD, name, record.namespace)
        assert pod is not None
        return [WatchEvent("MODIFIED", pod), WatchEvent("DELETED", {"metadata": {"name": "x"}})]

    kube.watch_events = events

    assert readiness(ctx) == Again(countdown=1, polls=1)
    assert registry.require(record.id).healthy == 0


FATAL = [
    pytest.param(
        {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "device",
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "nope"',
                        }
                    },
                }
            ],
        },
        'pod {pod}: ImagePullBackOff: Back-off pulling image "nope"',
        id="image-pull",
    ),
    pytest.param(
        {
            "phase": "Running",
            "containerStatuses": [
                {"name": "device", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ],
        },
        "pod {pod}: CrashLoopBackOff: no message",
        id="crash-loop",
    ),
    pytest.param(
        {"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."},
        "pod {pod} failed: Evicted: The node was low on memory.",
        id="failed",
    ),
]


@pytest.mark.parametrize(("status", "problem"), FATAL)
def test_a_pod_that_can_never_start_fails_the_step_at_once(
    status: Obj,
    problem: str,
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
) -> None:
    record = in_cluster("snapshot-testing")
    ctx = step_context(record, Step.READINESS)
    pod = ctx.plan.endpoints[2].name
    kube.set_pod_status(record.namespace, pod, status)

    with pytest.raises(PermanentError) as raised:
        readiness(ctx)

    assert raised.value.message == problem.format(pod=pod)
    assert raised.value.status is None and raised.value.reason is None
    assert "watch" not in kube.verbs()


@pytest.mark.parametrize(("status", "problem"), FATAL)
def test_a_pod_that_turns_fatal_during_the_watch_fails_the_step_at_once(
    status: Obj,
    problem: str,
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
) -> None:
    record = in_cluster("snapshot-testing")
    ctx = step_context(record, Step.READINESS)
    pod = ctx.plan.endpoints[0].name
    taken: list[str] = []

    def events() -> Iterator[WatchEvent]:
        taken.append("fatal")
        yield WatchEvent("MODIFIED", kube.set_pod_status(record.namespace, pod, status))
        # The pod would be replaced and come up; the step has stopped watching by then.
        taken.append("replaced")
        yield WatchEvent("DELETED", {"metadata": {"name": pod}})
        yield from ready(kube, record.namespace, *(e.name for e in ctx.plan.endpoints))

    kube.watch_events = events

    with pytest.raises(PermanentError) as raised:
        readiness(ctx)

    assert raised.value.message == problem.format(pod=pod)
    assert taken == ["fatal"]


def test_the_watch_stops_as_soon_as_every_endpoint_is_ready(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster("linux-basics")
    ctx = step_context(record, Step.READINESS)
    taken: list[str] = []

    def events() -> Iterator[WatchEvent]:
        taken.append("ready")
        yield from ready(kube, record.namespace, "linux1")
        taken.append("more")
        yield WatchEvent("DELETED", {"metadata": {"name": "linux1"}})

    kube.watch_events = events

    assert readiness(ctx) == Done()
    assert taken == ["ready"]


def test_pods_not_ready_at_the_deadline_fail_with_what_each_endpoint_waits_for(
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
    clock: FakeClock,
    registry: LessonRegistry,
) -> None:
    record = in_cluster("snapshot-testing")
    ctx = step_context(record, Step.READINESS)
    first, second, third, fourth = (endpoint.name for endpoint in ctx.plan.endpoints)
    kube.set_pod_status(record.namespace, first, READY_STATUS)
    kube.set_pod_status(
        record.namespace,
        second,
        {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient memory.",
                }
            ],
        },
    )
    kube.set_pod_status(
        record.namespace,
        third,
        {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "device", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ],
        },
    )
    pod = kube.read(POD, fourth, record.namespace)
    assert pod is not None
    kube.delete(POD, fourth, pod["metadata"]["uid"], record.namespace)
    clock.advance(record.deadline - clock.now())

    with pytest.raises(PermanentError) as raised:
        readiness(ctx)

    assert raised.value.reason == Reason.DEADLINE
    assert raised.value.message == (
        "1/4 endpoints ready at the provisioning deadline; waiting: "
        f"{second} (Unschedulable: 0/3 nodes are available: 3 Insufficient memory.), "
        f"{third} (ContainerCreating), {fourth} (no pod)"
    )
    # No time is left to watch.
    assert "watch" not in kube.verbs()
    assert registry.require(record.id).healthy == 1
