"""LESSONQ_API_TOKEN: every /v1 endpoint needs the bearer token; probes and metrics do not."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from config.settings import load_settings
from devstack.local import free_port
from scheduler.intake import create_app
from scheduler.intake.gate import OPEN_PATHS
from tests.api.conftest import Intake, running_intake
from tests.api.helpers import LESSONS, assert_error
from tests.support.settings import TEST_SETTINGS
from tests.support.stack import Stack

TOKEN = "s3cret-token-\u00e9"  # not ASCII: compared as bytes
SOME_ID = "0123456789abcdef"
V1 = [
    ("POST", LESSONS),
    ("GET", LESSONS),
    ("GET", f"{LESSONS}/{SOME_ID}"),
    ("POST", f"{LESSONS}/{SOME_ID}/keepalive"),
    ("DELETE", f"{LESSONS}/{SOME_ID}"),
    ("GET", "/v1/catalog"),
    ("GET", "/v1/pools"),
    ("PUT", "/v1/pools"),
    ("GET", "/v1/no-such-endpoint"),
]


@pytest.fixture(scope="module")
def guarded(idle_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    workdir = Path(tmp_path_factory.mktemp("auth"))
    with running_intake(idle_stack, workdir, "auth", instance_id="auth", api_token=TOKEN) as intake:
        yield intake


def bearer(token: bytes) -> dict[str, bytes]:
    return {"authorization": b"Bearer " + token}


@pytest.mark.parametrize(("method", "path"), V1)
def test_without_the_token_every_v1_endpoint_is_401(
    guarded: Intake, method: str, path: str
) -> None:
    with guarded.client() as api:
        response = api.request(method, path, json={"lesson": "linux-basics", "session_id": "s"})
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == 'Bearer realm="lessonq"'


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer wrong",
        b"Bearer " + TOKEN.encode()[:-1],
        b"Bearer " + TOKEN.encode() + b"x",
        b"Bearer",
        b"Basic " + TOKEN.encode(),
        TOKEN.encode(),
        b"Bearer " + TOKEN.encode("latin-1"),
        b"Bearer \xff\xfe",
    ],
)
def test_a_wrong_token_is_401(guarded: Intake, authorization: bytes) -> None:
    with guarded.client(headers={"authorization": authorization}) as api:
        response = api.get("/v1/catalog")
        assert_error(response, 401, "unauthorized")
        challenge = 'Bearer realm="lessonq", error="invalid_token"'
        assert response.headers["www-authenticate"] == challenge


def test_the_token_is_checked_before_the_body_is_read(guarded: Intake) -> None:
    with guarded.client() as api:
        headers = {"content-type": "application/json"}
        response = api.post(LESSONS, content=b"{not json", headers=headers)
        assert_error(response, 401, "unauthorized")


def test_with_the_token_the_api_answers(guarded: Intake) -> None:
    with guarded.client(headers=bearer(TOKEN.encode())) as api:
        assert api.get("/v1/catalog").status_code == 200
        response = api.post(LESSONS, json={"lesson": "linux-basics", "session_id": "s"})
        assert response.status_code == 202, response.text
        lesson_id = response.json()["id"]
        assert api.get(f"{LESSONS}/{lesson_id}").status_code == 200
        assert api.post(f"{LESSONS}/{lesson_id}/keepalive").status_code == 200
        assert api.get(LESSONS, params={"session": "s"}).status_code == 200
        assert api.delete(f"{LESSONS}/{lesson_id}").status_code == 202
    # Scheme names are case-insensitive.
    with guarded.client(headers={"authorization": b"bearer " + TOKEN.encode()}) as api:
        assert api.get("/v1/catalog").status_code == 200


def test_probes_metrics_and_the_openapi_document_stay_open(guarded: Intake) -> None:
    with guarded.client() as api:
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert api.get(path).status_code == 200, path
        document = api.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/v1/catalog"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]


@pytest.fixture(scope="module")
def under_root_path(idle_stack: Stack) -> Iterator[httpx.Client]:
    """The intake served by uvicorn under --root-path /lab (as behind a proxy that mounts it
    there): uvicorn puts the root path in front of every request's path."""
    settings = load_settings(**{**idle_stack.values, "instance_id": "rootpath", "api_token": TOKEN})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, root_path="/lab", log_config=None
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            threading.Event().wait(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_under_a_root_path_everything_but_the_open_paths_needs_the_token(
    under_root_path: httpx.Client,
) -> None:
    # Paths as the proxy forwards them, without the prefix; the routes see them the same way.
    api = under_root_path
    for path in (
        "/v1/catalog",
        f"{LESSONS}/0123456789abcdef",
        "/no-such-path",
        "/",
        "/healthz/x",
        "/lab/v1/catalog",
        "/docs/../v1/catalog",
    ):
        assert_error(api.get(path), 401, "unauthorized")
    response = api.post(LESSONS, json={"lesson": "linux-basics", "session_id": "s"})
    assert_error(response, 401, "unauthorized")
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert api.get(path).status_code == 200, path
    token = bearer(TOKEN.encode())
    assert api.get("/v1/catalog", headers=token).status_code == 200
    assert_error(api.get("/no-such-path", headers=token), 404, "not_found")
    # The documents point at the root path, where the proxy serves them.
    assert api.get("/openapi.json").json()["servers"] == [{"url": "/lab"}]


def test_the_open_paths_are_the_routes_outside_the_api() -> None:
    app = create_app(load_settings(**TEST_SETTINGS))
    documents = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    service = {path for path in app.openapi()["paths"] if not path.startswith("/v1/")}
    assert documents | service == OPEN_PATHS
