"""The lesson endpoints over real HTTP, with a real worker building lessons on kubesim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from lessons.model import Tier
from lessons.steps import Step
from registry import LESSON_ID_FORMAT, new_lesson_id
from tests.api.helpers import LESSONS, assert_error, create, problem_fields, wait_for_state
from tests.support.kube import ClusterView
from tests.support.stack import Stack

SETTLED = ("READY", "FAILED", "GONE")


def ports(body: dict[str, Any]) -> dict[str, list[tuple[str, int]]]:
    return {
        endpoint["name"]: [(port["name"], port["port"]) for port in endpoint["ports"]]
        for endpoint in body["endpoints"]
    }


def tear_down(api: httpx.Client, lesson_id: str) -> dict[str, Any]:
    response = api.delete(f"{LESSONS}/{lesson_id}")
    assert response.status_code == 202, response.text
    assert response.json()["state"] in ("TEARING_DOWN", "GONE")
    return wait_for_state(api, lesson_id, ["GONE"], timeout=30)


def assert_not_found_by_id(api: httpx.Client, lesson_id: str) -> None:
    """Every endpoint that takes a lesson id answers 404 for this one."""
    for method, path in (
        ("GET", f"{LESSONS}/{lesson_id}"),
        ("POST", f"{LESSONS}/{lesson_id}/keepalive"),
        ("DELETE", f"{LESSONS}/{lesson_id}"),
    ):
        assert_error(api.request(method, path), 404, "not_found")
    stage = api.post(f"{LESSONS}/{lesson_id}/stage", json={"stage": 0})
    assert_error(stage, 404, "not_found")


def test_lesson_reaches_ready_with_its_endpoints_then_delete_leaves_nothing(
    api: httpx.Client, stack: Stack, session_id: str
) -> None:
    response = api.post(LESSONS, json={"lesson": "snapshot-testing", "session_id": session_id})
    assert response.status_code == 202, response.text
    created = response.json()
    assert LESSON_ID_FORMAT.fullmatch(created["id"])
    assert created["state"] == "QUEUED" and created["endpoints"] is None
    assert created["status_url"] == f"{LESSONS}/{created['id']}"
    assert response.headers["location"] == created["status_url"]
    assert (created["lesson"], created["session_id"]) == ("snapshot-testing", session_id)

    ready = wait_for_state(api, created["id"], SETTLED)
    assert ready["state"] == "READY", ready["error"]
    assert ready["healthy"] == ready["total"] == 4
    assert ready["current_step"] is None and ready["error"] is None
    assert {step: s["status"] for step, s in ready["steps"].items()} == dict.fromkeys(
        (step.value for step in Step), "done"
    )
    assert ready["created_at"] <= ready["ready_at"]
    namespace = ready["namespace"]
    assert ports(ready) == {
        "linux1": [("cli", 22)],
        "vqfx1": [("cli", 22), ("port-830", 830)],
        "vqfx2": [("cli", 22), ("port-830", 830)],
        "vqfx3": [("cli", 22), ("port-830", 830)],
    }
    view = ClusterView(stack.sim.url)
    for endpoint in ready["endpoints"]:
        assert endpoint["service"] == endpoint["name"]
        assert endpoint["host"] == f"{endpoint['name']}.{namespace}.svc"
        # The name resolves because a Service of that name, with those ports, is there.
        service = view.get("Service", namespace, endpoint["service"])
        assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [
            (p["name"], p["port"]) for p in endpoint["ports"]
        ]

    gone = tear_down(api, created["id"])
    assert gone["endpoints"] is None
    assert view.namespace(namespace) is None
    listed = api.get(LESSONS, params={"session": session_id}).json()["lessons"]
    assert created["id"] not in {lesson["id"] for lesson in listed}


def test_inline_definition_is_provisioned_like_a_curriculum_lesson(
    api: httpx.Client, session_id: str
) -> None:
    definition = {
        "name": "Two hosts",
        "slug": "two-hosts",
        "endpoints": [
            {"name": "h1", "image": "utility", "additionalPorts": [8080]},
            {
                "name": "h2",
                "image": "utility",
                "presentations": [{"name": "web", "port": 80, "type": "http"}],
            },
        ],
        "connections": [{"a": "h1", "b": "h2", "subnet": "10.9.0.0/30"}],
    }
    created = create(api, session_id, definition=definition)
    assert created["lesson"] == "two-hosts"
    ready = wait_for_state(api, created["id"], SETTLED)
    assert ready["state"] == "READY", ready["error"]
    assert ports(ready) == {"h1": [("port-8080", 8080)], "h2": [("web", 80)]}
    tear_down(api, created["id"])


def test_same_lesson_and_session_give_the_same_live_lesson(
    api: httpx.Client, session_id: str
) -> None:
    first = create(api, session_id, lesson="linux-basics")
    again = create(api, session_id, lesson="linux-basics")
    other = create(api, f"{session_id}-other", lesson="linux-basics")
    assert again["id"] == first["id"]
    assert other["id"] != first["id"]
    mine = api.get(LESSONS, params={"session": session_id})
    assert mine.status_code == 200
    assert [lesson["id"] for lesson in mine.json()["lessons"]] == [first["id"]]
    theirs = api.get(LESSONS, params={"session": f"{session_id}-other"}).json()["lessons"]
    assert [lesson["id"] for lesson in theirs] == [other["id"]]
    for lesson in (first, other):
        tear_down(api, lesson["id"])
    # Once torn down, the same lesson and session start a new one.
    fresh = create(api, session_id, lesson="linux-basics")
    assert fresh["id"] != first["id"]
    tear_down(api, fresh["id"])


def test_keepalive_moves_the_expiry(api: httpx.Client, session_id: str) -> None:
    created = create(api, session_id, lesson="linux-basics")
    response = api.post(f"{LESSONS}/{created['id']}/keepalive")
    assert response.status_code == 200, response.text
    kept = response.json()
    assert datetime.fromisoformat(kept["expires_at"]) > datetime.fromisoformat(
        created["expires_at"]
    )
    status = api.get(f"{LESSONS}/{created['id']}").json()
    assert status["expires_at"] == kept["expires_at"]
    gone = tear_down(api, created["id"])
    # A lesson that is no longer live is not kept alive; the answer says so by its state.
    after = api.post(f"{LESSONS}/{created['id']}/keepalive")
    assert after.status_code == 200
    assert after.json()["state"] == "GONE"
    assert after.json()["expires_at"] == gone["expires_at"]


def test_unknown_lesson_slug_and_unknown_ids_are_404(api: httpx.Client, session_id: str) -> None:
    body = assert_error(
        api.post(LESSONS, json={"lesson": "no-such-lesson", "session_id": session_id}),
        404,
        "not_found",
    )
    assert "no-such-lesson" in body["message"]
    # A slug that looks like a path is only ever a slug.
    assert_error(
        api.post(LESSONS, json={"lesson": "../../etc/passwd.yaml", "session_id": session_id}),
        404,
        "not_found",
    )
    assert_not_found_by_id(api, new_lesson_id())


def test_hostile_ids_are_404(api: httpx.Client) -> None:
    hostile = [
        "..%2Fx",
        "%2E%2E%2Fx",
        "x" * 10_000,
        "%00",
        "0123456789abcdef%00",
        "%F0%9F%92%A5",
        "%FF%FE",
        "0123456789ABCDEF",
        "lessonq:test:expiry",
        "*",
    ]
    for lesson_id in hostile:
        assert_not_found_by_id(api, lesson_id)


def test_list_needs_a_valid_session(api: httpx.Client) -> None:
    assert problem_fields(api.get(LESSONS)) == {"session"}
    assert problem_fields(api.get(LESSONS, params={"session": "not valid!"})) == {"session"}
    assert problem_fields(api.get(LESSONS, params={"session": "x" * 65})) == {"session"}
    assert api.get(LESSONS, params={"session": "nobody-here"}).json() == {"lessons": []}


def test_catalog_lists_the_curriculum(api: httpx.Client, stack: Stack) -> None:
    response = api.get("/v1/catalog")
    assert response.status_code == 200
    body = response.json()
    lessons = {lesson["slug"]: lesson for lesson in body["lessons"]}
    # bgp-spine-leaf is ptr: served unless the stack serves prod alone (the default).
    ptr = ["bgp-spine-leaf"] if Tier(stack.settings.tier).serves(Tier.PTR) else []
    assert list(lessons) == [*ptr, "device-configuration", "linux-basics", "snapshot-testing"]
    assert body["problems"] == []
    snapshot = lessons["snapshot-testing"]
    assert snapshot["name"] == "Network Unit Testing with Snapshots"
    assert (snapshot["category"], snapshot["tier"]) == ("tools", "prod")
    assert (snapshot["endpoint_count"], snapshot["link_count"]) == (4, 3)
    assert snapshot["prereqs"] == ["linux-basics"]
    assert lessons["device-configuration"]["endpoint_count"] == 4
    assert lessons["linux-basics"]["short_description"].startswith("Find your way")


def test_lesson_ids_have_the_format_the_intake_expects() -> None:
    # The intake answers 404 for any id not of this format without asking Redis.
    assert all(LESSON_ID_FORMAT.fullmatch(new_lesson_id()) for _ in range(100))


def test_a_lesson_created_at_a_stage_moves_to_another_and_refuses_what_it_cannot(
    api: httpx.Client, session_id: str
) -> None:
    body = {"lesson": "device-configuration", "session_id": session_id, "stage": 1}
    created = api.post(LESSONS, json=body).json()
    assert created["stage"] == 1 and created["configurable"] == 3
    # Not READY yet: a stage change is a conflict.
    path = f"{LESSONS}/{created['id']}/stage"
    assert_error(api.post(path, json={"stage": 2}), 409, "conflict")
    ready = wait_for_state(api, created["id"], SETTLED)
    assert (ready["state"], ready["stage"], ready["configured"]) == ("READY", 1, 3), ready["error"]

    moving = api.post(path, json={"stage": 2})
    assert moving.status_code == 202, moving.text
    assert (moving.json()["state"], moving.json()["stage"]) == ("CONFIGURING", 2)
    assert moving.json()["endpoints"] is not None  # the lab stays up while it is configured
    moved = wait_for_state(api, created["id"], SETTLED)
    assert (moved["state"], moved["stage"]) == ("READY", 2)

    for bad, field in (
        ({"stage": 3}, "stage"),
        ({"stage": -1}, "stage"),
        ({}, "stage"),
        ({"stage": "1"}, "stage"),
        ({"stage": 1, "x": 1}, "x"),
    ):
        response = api.post(path, json=bad)
        assert_error(response, 422, "invalid_request")
        assert field in problem_fields(response), (bad, response.text)
    out_of_range = api.post(LESSONS, json={**body, "session_id": f"{session_id}-b", "stage": 9})
    assert_error(out_of_range, 422, "invalid_request")
    assert problem_fields(out_of_range) == {"stage"}
    tear_down(api, created["id"])
