"""Device configuration (the `configure` step) and stage changes: a Job per configured endpoint
for the lesson's stage, the earlier stage's Jobs gone, failures with their pod's last lines, the
readyDelay after, and a READY lesson moved to another stage."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from config.settings import Settings
from jobs import StepPayload
from kube import KubeError, Obj, PermanentError
from kube.kinds import CONFIG_MAP, JOB, NAMESPACE, SECRET
from lessons.curriculum import Curriculum
from lessons.files import MOUNT_PATH
from lessons.manifests import CREDENTIALS_NAME, FILES_NAME
from lessons.naming import JOB_NAME
from lessons.plan import build_plan
from lessons.state import LessonRecord, LessonState
from lessons.steps import Step
from registry import LessonNotFound, LessonRegistry, StageConflict, new_lesson_id
from tasks.outcomes import Outcome, Reason
from tasks.provision import run_step
from tasks.runtime import Runtime
from tasks.steps import Again, Done, StepContext, configure, job_progress, make_exist
from tests.fakes.clock import FakeClock
from tests.fakes.kube import FakeKube
from tests.fakes.observer import Recorder
from tests.fakes.producer import RecordingProducer
from tests.fakes.worker import FakeWorker
from tests.support.redis import redis_client

Context = Callable[..., StepContext]
NewLesson = Callable[..., LessonRecord]
LESSON = "device-configuration"  # vqfx1 napalm-junos, frr1 ansible, frr2 python; 3 stages


def jobs(kube: FakeKube, record: LessonRecord) -> dict[str, Obj]:
    found = kube.listing(JOB, record.namespace, "").items
    return {job["metadata"]["name"]: job for job in found}


def container(job: Obj) -> Obj:
    [only] = job["spec"]["template"]["spec"]["containers"]
    return only


# --- the configure step ---------------------------------------------------------------------


def test_a_job_per_configured_endpoint_runs_its_tool_on_its_stage_file(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster(LESSON)

    again = configure(step_context(record, Step.CONFIGURE))

    assert again == Again(countdown=1, polls=1)
    made = jobs(kube, record)
    assert sorted(made) == ["config-frr1-0-0", "config-frr2-0-0", "config-vqfx1-0-0"]
    commands = {name: container(job)["command"] for name, job in made.items()}
    assert commands == {
        "config-vqfx1-0-0": [
            "python",
            "/configure.py",
            "$(ANTIDOTE_TARGET_USERNAME)",
            "$(ANTIDOTE_TARGET_PASSWORD)",
            "junos",
            "22",
            "vqfx1",
            f"{MOUNT_PATH}/stage0/configs/vqfx1-junos.txt",
        ],
        "config-frr1-0-0": [
            "ansible-playbook",
            "-i",
            "frr1,",
            f"{MOUNT_PATH}/stage0/configs/frr1.yml",
        ],
        "config-frr2-0-0": ["python", f"{MOUNT_PATH}/stage0/configs/frr2.py"],
    }
    job = made["config-frr2-0-0"]
    assert job["spec"]["backoffLimit"] == 3
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["terminationGracePeriodSeconds"] == 5
    assert container(job)["volumeMounts"] == [
        {"name": FILES_NAME, "mountPath": MOUNT_PATH, "readOnly": True}
    ]
    [volume] = pod["volumes"]
    paths = {item["path"] for item in volume["configMap"]["items"]}
    assert {"stage0/configs/frr2.py", "stage0/configs/frr2/frr.conf", "diagram.png"} <= paths
    env = {variable["name"]: variable for variable in container(job)["env"]}
    assert env["ANTIDOTE_TARGET_HOST"] == {"name": "ANTIDOTE_TARGET_HOST", "value": "frr2"}
    assert env["ANTIDOTE_TARGET_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": CREDENTIALS_NAME, "key": "frr2.password"}
    }
    # The credentials are in the Secret, never in a Job.
    assert all("antidotepassword" not in json.dumps(job) for job in made.values())
    # The Job's pod is not an endpoint: neither the pods' affinity nor readiness select it.
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert "lessonq.io/id" not in labels and "lessonq.io/endpoint" not in labels


def test_the_files_step_puts_the_folder_and_the_credentials_in_the_namespace(
    new_lesson: NewLesson, step_context: Context, kube: FakeKube, registry: LessonRegistry
) -> None:
    record = new_lesson(LESSON)
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": record.namespace}})

    assert make_exist(step_context(record, Step.FILES)) == Done()

    files = registry.files(str(registry.plan(record.id).files_version))
    config_map = kube.read(CONFIG_MAP, FILES_NAME, record.namespace)
    assert config_map is not None
    contents = {**config_map["data"]}
    contents.update(
        {key: base64.b64decode(value) for key, value in config_map["binaryData"].items()}
    )
    # Keys are numbered in the order of the plan's paths (which the pods' volume maps back).
    by_path = {
        path: contents[key]
        for key, path in zip(sorted(contents), registry.plan(record.id).file_paths, strict=True)
    }
    assert by_path["diagram.png"] == files.files["diagram.png"]  # binary, in binaryData
    assert by_path["stage1/configs/frr1.yml"] == files.files["stage1/configs/frr1.yml"].decode()
    secret = kube.read(SECRET, CREDENTIALS_NAME, record.namespace)
    assert secret is not None
    assert base64.b64decode(secret["data"]["vqfx1.username"]) == b"antidote"
    assert set(secret["data"]) == {
        f"{endpoint}.{part}"
        for endpoint in ("vqfx1", "frr1", "frr2")
        for part in ("username", "password")
    }


def test_a_plan_sent_without_its_folder_has_no_files_to_put(
    new_lesson: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
    curriculum: Curriculum,
    settings: Settings,
) -> None:
    """A client may register a plan built without the lesson's files (files_version None), for
    a lesson that configures no device: the files step has nothing to put, and is done."""
    plan = build_plan(
        curriculum.lesson("linux-basics"),
        curriculum.images,
        lesson_id=new_lesson_id(),
        session_id="no-folder",
        settings=settings,
    )
    record = registry.create(plan).record
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": record.namespace}})

    assert make_exist(step_context(record, Step.FILES)) == Done()

    assert plan.files_version is None
    assert kube.names(CONFIG_MAP, record.namespace) == kube.names(SECRET, record.namespace) == []


def test_files_gone_from_redis_fail_the_files_step_for_good(
    new_lesson: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
    redis_url: str,
) -> None:
    """Evicted files cannot come back without the intake: retrying would not help."""
    record = new_lesson(LESSON)
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": record.namespace}})
    version = str(registry.plan(record.id).files_version)
    redis_client(redis_url).delete(registry.keys.files(version))

    with pytest.raises(PermanentError, match=f"files of version {version} are gone from Redis"):
        make_exist(step_context(record, Step.FILES))
    assert kube.names(CONFIG_MAP, record.namespace) == []


def test_finished_jobs_count_as_configured_then_the_lesson_settles_for_its_ready_delay(
    in_cluster: NewLesson,
    step_context: Context,
    kube: FakeKube,
    registry: LessonRegistry,
    clock: FakeClock,
) -> None:
    record = in_cluster(LESSON)  # readyDelay 1
    configure(step_context(record, Step.CONFIGURE))
    kube.finish_jobs(record.namespace)
    first_seen = clock.now()

    again = configure(step_context(record, Step.CONFIGURE, polls=1))

    assert again == Again(countdown=1, ready_since=first_seen, polls=1)
    assert registry.require(record.id).configured == 3
    assert registry.require(record.id).configurable == 3
    clock.advance(1)
    ctx = step_context(record, Step.CONFIGURE, ready_since=first_seen)
    assert configure(ctx) == Done()
    assert len(jobs(kube, record)) == 3  # nothing created twice


def test_a_lesson_without_configured_devices_is_done_at_once(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster("linux-basics")

    assert configure(step_context(record, Step.CONFIGURE)) == Done()
    assert jobs(kube, record) == {}


def test_a_job_that_failed_for_good_fails_the_lesson_with_its_pods_last_lines(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster(LESSON)
    configure(step_context(record, Step.CONFIGURE))
    failed = "config-frr1-0-0"
    for attempt in range(2):
        kube.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{failed}-{attempt}",
                    "namespace": record.namespace,
                    "labels": {JOB_NAME: failed},
                    "creationTimestamp": f"2026-01-01T00:00:0{attempt}Z",
                },
            }
        )
    kube.logs[(record.namespace, f"{failed}-1")] = "".join(f"line {n}\n" for n in range(50))
    failure = {
        "type": "Failed",
        "status": "True",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
    }
    kube.set_status(JOB, record.namespace, failed, {"failed": 2, "conditions": [failure]})

    with pytest.raises(PermanentError) as raised:
        configure(step_context(record, Step.CONFIGURE, polls=1))

    assert raised.value.reason == Reason.CONFIGURATION
    message = raised.value.message
    assert message.startswith(
        "frr1: configuration Job config-frr1-0-0 failed (BackoffLimitExceeded: Job has reached "
        "the specified backoff limit); last lines of pod config-frr1-0-0-1:\n"
    )
    # The last 20 lines of the latest pod, no more.
    assert message.endswith("line 49") and "line 29\n" not in message and "line 30" in message


def test_a_failed_job_without_a_pod_or_a_log_still_says_what_failed(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster(LESSON)
    configure(step_context(record, Step.CONFIGURE))
    kube.finish_jobs(record.namespace, "Failed", reason="DeadlineExceeded")

    with pytest.raises(PermanentError, match=r"\(DeadlineExceeded: no message\); it left no pod"):
        configure(step_context(record, Step.CONFIGURE, polls=1))


def test_a_failed_job_whose_log_cannot_be_read_still_says_what_failed(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube
) -> None:
    record = in_cluster(LESSON)
    configure(step_context(record, Step.CONFIGURE))
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "config-frr2-0-0-a",
                "namespace": record.namespace,
                "labels": {JOB_NAME: "config-frr2-0-0"},
            },
        }
    )
    failure = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
    kube.set_status(JOB, record.namespace, "config-frr2-0-0", {"conditions": [failure]})
    kube.fail("log", KubeError('pods "config-frr2-0-0-a" not found', status=404))

    with pytest.raises(PermanentError) as raised:
        configure(step_context(record, Step.CONFIGURE, polls=1))

    assert raised.value.message.endswith(
        "last lines of pod config-frr2-0-0-a:\n"
        '(its log could not be read: pods "config-frr2-0-0-a" not found)'
    )


def test_jobs_still_running_at_the_deadline_fail_the_lesson_saying_which(
    in_cluster: NewLesson, step_context: Context, kube: FakeKube, clock: FakeClock
) -> None:
    record = in_cluster(LESSON)
    configure(step_context(record, Step.CONFIGURE))
    kube.finish_jobs(record.namespace)
    kube.delete(
        JOB,
        "config-frr2-0-0",
        jobs(kube, record)["config-frr2-0-0"]["metadata"]["uid"],
        record.namespace,
    )
    configure(step_context(record, Step.CONFIGURE))  # made again, running
    clock.advance(record.deadline - clock.now())

    with pytest.raises(PermanentError) as raised:
        configure(step_context(record, Step.CONFIGURE, polls=3))

    assert raised.value.reason == Reason.DEADLINE
    assert raised.value.message == (
        "2/3 endpoints configured at the provisioning deadline; waiting: frr2 (config-frr2-0-0)"
    )


@pytest.mark.parametrize(
    ("status", "progress"),
    [
        (None, "running"),  # just created: no status yet
        ({"active": 1}, "running"),
        # A condition that is not (or no longer) True says nothing; a later one decides.
        ({"conditions": [{"type": "Failed", "status": "False"}]}, "running"),
        (
            {
                "conditions": [
                    {"type": "Failed", "status": "False"},
                    {"type": "Complete", "status": "True"},
                ]
            },
            "done",
        ),
        ({"conditions": [{"type": "Failed", "status": "True"}]}, "failed"),
    ],
)
def test_a_jobs_progress_is_read_from_its_true_conditions(
    status: Obj | None, progress: str
) -> None:
    job: Obj = {"metadata": {"name": "config-frr1-0-0"}}
    if status is not None:
        job["status"] = status
    assert job_progress(job) == progress


# --- stage changes --------------------------------------------------------------------------


def test_moving_a_ready_lesson_to_another_stage_runs_its_jobs_and_removes_the_earlier_ones(
    ready_lesson: NewLesson,
    worker: FakeWorker,
    kube: FakeKube,
    producer: RecordingProducer,
    registry: LessonRegistry,
    events: Recorder,
) -> None:
    record = ready_lesson(LESSON)
    ready = registry.require(record.id)
    assert (ready.state, ready.stage, ready.configured) == (LessonState.READY, 0, 3)
    assert sorted(jobs(kube, record)) == ["config-frr1-0-0", "config-frr2-0-0", "config-vqfx1-0-0"]

    assert registry.begin_stage(record.id, 2) is True
    moving = registry.require(record.id)
    assert (moving.state, moving.stage, moving.configured) == (LessonState.CONFIGURING, 2, 0)
    assert moving.current_step == "configure"
    producer.steps([Step.CONFIGURE], StepPayload.of(moving))  # what the intake sends
    worker.run()

    done = registry.require(record.id)
    assert (done.state, done.stage, done.configured) == (LessonState.READY, 2, 3)
    assert sorted(jobs(kube, record)) == ["config-frr1-2-1", "config-frr2-2-1", "config-vqfx1-2-1"]
    command = container(jobs(kube, record)["config-vqfx1-2-1"])["command"]
    assert command[-1] == f"{MOUNT_PATH}/stage2/configs/vqfx1-junos.txt"
    deleted = {call.name for call in kube.calls if call.verb == "delete" and call.kind == "Job"}
    assert deleted == {"config-frr1-0-0", "config-frr2-0-0", "config-vqfx1-0-0"}
    assert {e.outcome for e in events.events if e.step == "configure"} == {Outcome.DONE}


def test_asking_for_the_current_stage_again_applies_it_afresh(
    ready_lesson: NewLesson,
    worker: FakeWorker,
    kube: FakeKube,
    producer: RecordingProducer,
    registry: LessonRegistry,
) -> None:
    record = ready_lesson(LESSON)

    assert registry.begin_stage(record.id, 0) is True
    producer.steps([Step.CONFIGURE], StepPayload.of(registry.require(record.id)))
    worker.run()

    assert sorted(jobs(kube, record)) == ["config-frr1-0-1", "config-frr2-0-1", "config-vqfx1-0-1"]
    assert registry.require(record.id).state is LessonState.READY


def test_a_stage_change_is_refused_unless_the_lesson_is_ready_and_asked_twice_is_once(
    ready_lesson: NewLesson,
    new_lesson: NewLesson,
    registry: LessonRegistry,
) -> None:
    provisioning = new_lesson(LESSON, "provisioning")
    with pytest.raises(StageConflict, match="is QUEUED: only a READY lesson changes stage"):
        registry.begin_stage(provisioning.id, 1)
    with pytest.raises(LessonNotFound):
        registry.begin_stage("0123456789abcdef", 1)

    record = ready_lesson(LESSON)
    assert registry.begin_stage(record.id, 1) is True
    # Configuring that stage already: nothing changes, nothing is to be sent again.
    assert registry.begin_stage(record.id, 1) is False
    assert registry.require(record.id).config_generation == 1
    with pytest.raises(StageConflict, match="is CONFIGURING"):
        registry.begin_stage(record.id, 2)


def test_a_teardown_during_a_stage_change_wins(
    ready_lesson: NewLesson,
    worker: FakeWorker,
    kube: FakeKube,
    producer: RecordingProducer,
    registry: LessonRegistry,
    runtime: Runtime,
    events: Recorder,
) -> None:
    record = ready_lesson(LESSON)
    registry.begin_stage(record.id, 1)
    assert registry.begin_teardown([record.id]) == [record.id]

    assert run_step(runtime, Step.CONFIGURE, StepPayload.of(record)) is None

    assert events.outcomes()[-1] == ("configure", Outcome.SKIPPED)
    assert not any(job.endswith("-1-1") for job in jobs(kube, record))
    producer.teardown(StepPayload.of(registry.require(record.id)))
    worker.between = lambda: kube.finish_terminating(record.namespace)
    worker.run()
    assert registry.require(record.id).state is LessonState.GONE
    assert kube.read(NAMESPACE, record.namespace) is None
    assert jobs(kube, record) == {}


def test_a_configure_step_delivered_twice_makes_one_job_per_endpoint(
    ready_lesson: NewLesson,
    kube: FakeKube,
    registry: LessonRegistry,
    runtime: Runtime,
) -> None:
    record = ready_lesson(LESSON)
    registry.begin_stage(record.id, 1)
    payload = StepPayload.of(registry.require(record.id))

    first = run_step(runtime, Step.CONFIGURE, payload)
    again = run_step(runtime, Step.CONFIGURE, payload)  # redelivered

    assert first is not None and again is not None
    assert sorted(name for name in jobs(kube, record) if name.endswith("-1-1")) == [
        "config-frr1-1-1",
        "config-frr2-1-1",
        "config-vqfx1-1-1",
    ]


def test_a_configure_step_delivered_before_the_devices_are_ready_does_nothing(
    in_cluster: NewLesson, runtime: Runtime, kube: FakeKube, events: Recorder
) -> None:
    record = in_cluster(LESSON)  # pods made, readiness not done

    assert run_step(runtime, Step.CONFIGURE, StepPayload.of(record)) is None

    assert events.outcomes() == [("configure", Outcome.SKIPPED)]
    assert events.events[0].why == "a step it needs is not done"
    assert jobs(kube, record) == {}  # no Job runs against a device still booting
