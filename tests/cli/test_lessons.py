"""`lessonq create / status / list / keepalive / teardown` against a real stack."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import pytest

import jobs.producer
from devstack.local import free_port
from lessons.steps import Step
from scheduler import cli
from tests.cli.run import LESSONQ, assert_one_line_error, lessonq
from tests.support.stack import Stack


def lesson_id(output: str) -> str:
    found = re.search(r"^lesson ([0-9a-f]+): ", output, re.MULTILINE)
    assert found, output
    return found.group(1)


def test_a_lesson_from_create_to_teardown(stack: Stack, session_id: str) -> None:
    created = lessonq("create", "linux-basics", "--session", session_id, "--wait", env=stack.env)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    ident = lesson_id(created.stdout)
    # Not a terminal: one plain progress line per change, the last one READY with every step.
    progress = [line for line in lines if re.match(r"^\s*\d+\.\d\ds ", line)]
    assert len(progress) >= 2, lines
    assert all("\r" not in line for line in lines)
    every = f"{len(Step)}/{len(Step)}"
    assert re.search(
        rf"READY steps {every} step - endpoints (\d+)/\1 configured (\d+)/\2$", progress[-1]
    )
    assert any("PROVISIONING" in line or "QUEUED" in line for line in progress[:-1])
    # Then the status of the READY lesson, with the service of each endpoint.
    assert "state       READY" in lines
    record = stack.client().status(ident)
    for endpoint in stack.client().registry.plan(ident).endpoints:
        assert any(
            line.startswith(f"service     {endpoint.name}.{record.namespace}:") for line in lines
        ), lines
    # Its terminal, with the image's login: the command line is the operator's.
    ssh = f"  ssh       cli: linux1.{record.namespace}.svc:22, user antidote, password "
    ssh += "antidotepassword"
    assert lines[lines.index(f"service     linux1.{record.namespace}: cli 22") + 1] == ssh

    status = lessonq("status", ident, "--json", env=stack.env)
    assert json.loads(status.stdout)["state"] == "READY"
    listed = lessonq("list", "--session", session_id, env=stack.env)
    assert listed.stdout.splitlines()[0].split() == [
        "ID",
        "LESSON",
        "SESSION",
        "STATE",
        "ENDPOINTS",
        "NAMESPACE",
    ]
    assert listed.stdout.splitlines()[1].split()[:4] == [ident, "linux-basics", session_id, "READY"]
    kept = lessonq("keepalive", ident, env=stack.env)
    assert kept.returncode == 0 and "expires" in kept.stdout

    gone = lessonq("teardown", ident, "--wait", env=stack.env)
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.splitlines()[-1] == f"lesson {ident}: GONE"
    assert stack.client().status(ident).state.value == "GONE"
    assert lessonq("list", "--session", session_id, env=stack.env).stdout.strip() == (
        f"no live lessons for session {session_id}"
    )


def test_progress_is_redrawn_in_place_on_a_terminal(stack: Stack, session_id: str) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(LESSONQ), "create", "linux-basics", "--session", session_id, "--wait"],
        env={**os.environ, **stack.env},
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0, process.stderr
    text = output.decode()
    redraws = text.split("\r\x1b[K")
    assert len(redraws) >= 3, text
    assert re.match(rf"READY\s+\[{'#' * len(Step)}\] {len(Step)}/{len(Step)} steps", redraws[-1])
    stack.client().teardown(lesson_id(text.replace("\r\n", "\n")))


def test_failures_are_one_line_without_traceback(stack: Stack) -> None:
    unreachable = {**stack.env, "LESSONQ_REDIS_URL": f"redis://:secret@127.0.0.1:{free_port()}/0"}
    cases = [
        (["create", "nope", "--session", "s"], stack.env, "unknown lesson 'nope'"),
        (["create", "linux-basics", "--session", "not valid"], stack.env, "session_id must be"),
        (["status", "0123456789abcdef"], stack.env, "no lesson with id '0123456789abcdef'"),
        (["teardown", "0123456789abcdef"], stack.env, "no lesson with id"),
        (["list"], unreachable, "cannot reach Redis at redis://:***@127.0.0.1:"),
        (["list"], {**stack.env, "LESSONQ_INSTANCE_ID": "Not Valid"}, "LESSONQ_INSTANCE_ID"),
        (["worker"], {**stack.env, "LESSONQ_VISIBILITY_TIMEOUT": "1"}, "VISIBILITY_TIMEOUT"),
        (["flower"], stack.env, "LESSONQ_FLOWER_PASSWORD is not set"),
        (
            ["render", "linux-basics", "--session", "s", "--lesson-id", "UPPER CASE"],
            stack.env,
            "lesson_id",
        ),
    ]
    for args, env, words in cases:
        assert_one_line_error(lessonq(*args, env=env), words)


def test_a_broker_that_fails_after_the_redis_ping_is_one_line(
    stack: Stack,
    session_id: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Redis answers the ping and takes the record; then the task's publish fails (kombu gives
    # up after its retries with an OperationalError), as when Redis goes away in between.
    for name, value in {**stack.env, "LESSONQ_INSTANCE_ID": "broker-down"}.items():
        monkeypatch.setenv(name, value)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    real = jobs.producer.sending_app
    monkeypatch.setattr(
        jobs.producer,
        "sending_app",
        lambda settings: real(settings.model_copy(update={"redis_url": nowhere})),
    )
    with pytest.raises(SystemExit) as exited:
        cli.main(["create", "linux-basics", "--session", session_id])
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert err.startswith("lessonq create: cannot send the task to the broker: ")
    assert len(err.splitlines()) == 1 and "Traceback" not in out + err, err
    assert "111" in err or "refused" in err.lower(), err


def test_a_lesson_created_at_a_stage_and_moved_to_another(stack: Stack, session_id: str) -> None:
    created = lessonq(
        "create",
        "device-configuration",
        "--session",
        session_id,
        "--stage",
        "1",
        "--wait",
        env=stack.env,
    )
    assert created.returncode == 0, created.stderr
    ident = lesson_id(created.stdout)
    assert "stage       1, 3/3 configured" in created.stdout.splitlines()

    moved = lessonq("stage", ident, "2", "--wait", env=stack.env)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith(f"lesson {ident}: CONFIGURING, stage 2\n")
    assert "stage       2, 3/3 configured" in moved.stdout.splitlines()
    assert_one_line_error(lessonq("stage", ident, "7", env=stack.env), "0 to 2, not 7")
    assert lessonq("teardown", ident, "--wait", env=stack.env).returncode == 0
    assert_one_line_error(lessonq("stage", ident, "1", env=stack.env), "is GONE")


def test_status_shows_the_web_pages_and_the_guide_under_the_presentation_domain(
    stack: Stack, session_id: str
) -> None:
    # The plan is made where the lesson is asked for: here, by the command line.
    env = {**stack.env, "LESSONQ_PRESENTATION_DOMAIN": "labs.example.com"}
    created = lessonq("create", "bgp-spine-leaf", "--session", session_id, "--wait", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    ident = lesson_id(created.stdout)
    plan = stack.client().registry.plan(ident)
    web = plan.endpoint("server1").presentations[1].ingress
    assert web is not None and plan.guide is not None and plan.guide.ingress is not None

    status = lessonq("status", ident, env=stack.env).stdout.splitlines()
    assert f"  http      web: http://{web.host}/" in status
    assert status[-1] == f"guide       jupyter: http://{plan.guide.ingress.host}/"
    assert "state       READY" in status and "endpoints   8/8 healthy" in status
    assert lessonq("teardown", ident, "--wait", env=stack.env).returncode == 0


def test_pool_shows_and_sets_the_warm_pools(stack: Stack) -> None:
    # An instance of its own: the shared stack's lessons never meet this pool.
    env = {**stack.env, "LESSONQ_INSTANCE_ID": "cli-pools", "LESSONQ_WARM_POOL": "linux-basics=0"}
    changed = lessonq("pool", "snapshot-testing=0", env=env)
    assert changed.returncode == 0, changed.stderr
    header, *rows = changed.stdout.strip().split("\n")
    assert header.split() == [
        "LESSON",
        "SIZE",
        "READY",
        "PROVISIONING",
        "CLAIMS",
        "MISSES",
        "REFILL",
        "(AVG)",
    ]
    assert [row.split() for row in rows] == [
        ["linux-basics", "0", "0", "0", "0", "0", "-"],
        ["snapshot-testing", "0", "0", "0", "0", "0", "-"],
    ]
    assert_one_line_error(
        lessonq("pool", "no-such-lesson=1", "linux-basics", env=env), "is not SLUG=SIZE"
    )
