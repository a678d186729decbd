"""/healthz, /readyz, /metrics and /openapi.json."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devstack.local import LoggedProcess, free_port
from scheduler.intake.app import loopback
from scheduler.intake.service import PROBE_TIMEOUT
from tests.api.conftest import running_intake
from tests.api.helpers import LESSONS, assert_error, create
from tests.support.settings import REPO
from tests.support.stack import Stack

STATES = ["QUEUED", "PROVISIONING", "READY", "CONFIGURING", "FAILED", "TEARING_DOWN"]


def live_lessons(api: httpx.Client) -> dict[str, float]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = text_string_to_metric_families(response.text)
    (family,) = [f for f in families if f.name == "lessonq_live_lessons"]
    assert family.type == "gauge"
    return {sample.labels["state"]: sample.value for sample in family.samples}


def test_health_and_readiness(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ok"}


def test_without_redis_the_process_is_healthy_but_not_ready(
    idle_stack: Stack, tmp_path: Path
) -> None:
    port = free_port()
    nowhere = f"redis://127.0.0.1:{port}/0"
    with (
        running_intake(idle_stack, tmp_path, "no-redis", redis_url=nowhere) as intake,
        intake.client() as api,
    ):
        assert api.get("/healthz").status_code == 200
        body = assert_error(api.get("/readyz"), 503, "unavailable")
        assert "Redis" in body["message"]
        # Where Redis is and how it failed goes to the log, not to an unauthenticated caller.
        assert str(port) not in str(body) and "127.0.0.1" not in str(body), body
        assert f"GET /readyz: Redis does not answer: Error 111 connecting to 127.0.0.1:{port}" in (
            intake.log.read_text()
        )
        assert_error(api.get("/metrics"), 503, "unavailable")


def test_without_redis_v1_answers_503_after_the_intakes_short_retries(
    idle_stack: Stack, tmp_path: Path
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with (
        running_intake(
            idle_stack, tmp_path, "down", redis_url=nowhere, intake_redis_retry=1
        ) as intake,
        intake.client() as api,
    ):
        for method, path in (("GET", f"{LESSONS}/0123456789abcdef"), ("POST", LESSONS)):
            started = time.monotonic()
            response = api.request(method, path, json={"lesson": "linux-basics", "session_id": "s"})
            # Three retries, 0.7 s of pauses; a worker's client would retry for 40 s. (Far apart,
            # so that a loaded machine cannot blur them.)
            assert time.monotonic() - started < 20, (method, path)
            assert_error(response, 503, "unavailable")


class HungRedis:
    """A TCP server that accepts connections and never answers them: a Redis that hangs."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self._server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self._server.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        """Gone for good: open connections drop, new ones are refused."""
        if self._server.fileno() == -1:
            return
        self._server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._server.close()
        self._thread.join(timeout=5)
        for connection in self.accepted:
            connection.close()


def test_probes_and_metrics_answer_while_v1_requests_hold_every_thread(
    idle_stack: Stack, tmp_path: Path
) -> None:
    # FastAPI runs the /v1 endpoints on a pool of 40 threads; 50 requests on a Redis that never
    # answers hold them all (each waits for its socket timeout, 10 s).
    stuck_requests = 50
    redis = HungRedis()
    try:
        with (
            running_intake(
                idle_stack,
                tmp_path,
                "hung",
                intake_redis_retry=0.5,
                redis_url=f"redis://127.0.0.1:{redis.port}/0",
            ) as intake,
            intake.client() as api,
            ThreadPoolExecutor(stuck_requests) as pool,
        ):
            stuck = [
                pool.submit(api.get, f"{LESSONS}/0123456789abcdef") for _ in range(stuck_requests)
            ]
            give_up = time.monotonic() + 10
            while len(redis.accepted) < 40:  # every thread of the pool waits on Redis
                assert time.monotonic() < give_up, len(redis.accepted)
                time.sleep(0.05)

            # Answered while every /v1 request still holds its thread (they wait 10 s for their
            # sockets): the probes wait behind none of them.
            assert api.get("/healthz", timeout=5).status_code == 200
            # Threads of their own and a connection that does not retry: Redis is reported
            # gone after the probe timeout, not after the /v1 requests.
            with ThreadPoolExecutor(2) as probes:
                readyz, metrics = probes.map(
                    lambda path: api.get(path, timeout=PROBE_TIMEOUT + 5), ["/readyz", "/metrics"]
                )
            assert_error(readyz, 503, "unavailable")
            assert_error(metrics, 503, "unavailable")
            assert not any(request.done() for request in stuck)
            # Redis goes away for good: the stuck requests are told 503 after their retries.
            redis.close()
            for request in stuck:
                assert_error(request.result(timeout=5), 503, "unavailable")
    finally:
        redis.close()


def test_metrics_count_lessons_by_state_at_scrape_time(idle_stack: Stack, tmp_path: Path) -> None:
    # No worker on this stack: lessons stay QUEUED until torn down, so the counts are exact.
    with (
        running_intake(idle_stack, tmp_path, "metrics", instance_id="metrics") as intake,
        intake.client() as api,
    ):
        assert live_lessons(api) == dict.fromkeys(STATES, 0)
        first = create(api, "s1", lesson="linux-basics")
        create(api, "s2", lesson="linux-basics")
        create(api, "s2", lesson="snapshot-testing")
        assert live_lessons(api) == {**dict.fromkeys(STATES, 0), "QUEUED": 3}
        assert api.delete(f"{LESSONS}/{first['id']}").status_code == 202
        assert live_lessons(api) == {**dict.fromkeys(STATES, 0), "QUEUED": 2, "TEARING_DOWN": 1}


def test_openapi_document_describes_every_endpoint(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    assert {(path, method) for path, item in document["paths"].items() for method in item} == {
        ("/v1/lessons", "post"),
        ("/v1/lessons", "get"),
        ("/v1/lessons/{lesson_id}", "get"),
        ("/v1/lessons/{lesson_id}", "delete"),
        ("/v1/lessons/{lesson_id}/keepalive", "post"),
        ("/v1/lessons/{lesson_id}/stage", "post"),
        ("/v1/catalog", "get"),
        ("/v1/pools", "get"),
        ("/v1/pools", "put"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    }
    create_op = document["paths"]["/v1/lessons"]["post"]
    assert create_op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateLesson"
    }
    assert set(create_op["responses"]) == {"202", "401", "404", "413", "422", "429", "503"}
    error = {"$ref": "#/components/schemas/ErrorBody"}
    assert create_op["responses"]["422"]["content"]["application/json"]["schema"] == error
    schemas = document["components"]["schemas"]
    assert set(schemas["CreateLesson"]["properties"]) == {
        "lesson",
        "definition",
        "session_id",
        "stage",
    }
    assert {"endpoints", "guide"} <= set(schemas["LessonStatus"]["properties"])
    # What the front end builds its tabs from: each field that may not apply is optional.
    presentation = schemas["PresentationAccess"]
    assert set(presentation["required"]) == {"name", "type", "port", "host"}
    assert {"url", "ssh_user", "ssh_password"} <= set(presentation["properties"])
    assert schemas["PresentationType"]["enum"] == ["ssh", "http"]
    # No token configured: no security scheme claimed.
    assert "securitySchemes" not in document["components"]


def test_a_strict_intake_does_not_start_on_a_broken_curriculum(tmp_path: Path) -> None:
    (tmp_path / "lessons" / "broken").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONQ_")}
    env["LESSONQ_CURRICULUM"] = str(tmp_path)
    # Without it, the intake starts and serves the lessons that are valid (test_curriculum_api).
    env["LESSONQ_CURRICULUM_STRICT"] = "true"
    done = subprocess.run(
        [sys.executable, "-m", "scheduler.intake", "--port", str(free_port())],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.startswith("lessonq intake: ")
    assert "lesson.meta.yaml:(file): file is missing" in done.stderr


def test_python_m_scheduler_intake_is_lessonq_intake_and_warns_when_open(
    stack: Stack, tmp_path: Path
) -> None:
    log = tmp_path / "intake.log"
    port = free_port()
    # No --host: the CLI's default, every address; and no token.
    intake = LoggedProcess(
        "intake",
        [sys.executable, "-m", "scheduler.intake", "--port", str(port)],
        stack.env,
        log,
        inherit_settings=False,
    )
    try:
        intake.wait_for_port(port)
    finally:
        intake.stop()
    # Lines are "<date> <time> LEVEL logger: message".
    warnings = [
        line.split(" ", 2)[2] for line in log.read_text().splitlines() if " WARNING " in line
    ]
    assert warnings == [
        f"WARNING lessonq.intake: listening on 0.0.0.0:{port} without LESSONQ_API_TOKEN: "
        "anyone who reaches it can ask for, see and tear down lessons"
    ]


def test_only_loopback_addresses_count_as_private() -> None:
    assert all(map(loopback, ["127.0.0.1", "127.1.2.3", "::1", "localhost"]))
    assert not any(map(loopback, ["0.0.0.0", "::", "", "10.0.0.5", "lab.example.com"]))
