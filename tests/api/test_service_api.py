"""/healthz, /readyz, /metrics and /openapi.json."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import running_intake
from tests.api.helpers import LESSONS, assert_error, create
from tests.support.settings import REPO
from tests.support.stack import Stack
from workers.local import free_port

STATES = ["QUEUED", "PROVISIONING", "READY", "FAILED", "TEARING_DOWN"]


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
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with (
        running_intake(idle_stack, tmp_path, "no-redis", redis_url=nowhere) as intake,
        intake.client() as api,
    ):
        assert api.get("/healthz").status_code == 200
        body = assert_error(api.get("/readyz"), 503, "unavailable")
        assert "Redis" in body["message"]
        assert_error(api.get("/metrics"), 503, "unavailable")


def test_metrics_count_lessons_by_state_at_scrape_time(
    idle_stack: Stack, tmp_path: Path
) -> None:
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
        assert live_lessons(api) == {
            **dict.fromkeys(STATES, 0), "QUEUED": 2, "TEARING_DOWN": 1
        }


def test_openapi_document_describes_every_endpoint(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    assert {
        (path, method) for path, item in document["paths"].items() for method in item
    } == {
        ("/v1/lessons", "post"),
        ("/v1/lessons", "get"),
        ("/v1/lessons/{lesson_id}", "get"),
        ("/v1/lessons/{lesson_id}", "delete"),
        ("/v1/lessons/{lesson_id}/keepalive", "post"),
        ("/v1/catalog", "get"),
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
    assert set(schemas["CreateLesson"]["properties"]) == {"lesson", "definition", "session_id"}
    assert "endpoints" in schemas["LessonStatus"]["properties"]
    # No token configured: no security scheme claimed.
    assert "securitySchemes" not in document["components"]


def test_a_broken_curriculum_stops_the_service_at_start(tmp_path: Path) -> None:
    (tmp_path / "lessons" / "broken").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONQ_")}
    env["LESSONQ_CURRICULUM"] = str(tmp_path)
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
