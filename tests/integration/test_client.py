"""The Python client: what it accepts, and that invalid input leaves no trace at all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lessons.curriculum import LessonError, UnknownLessonError
from lessons.model import Lesson
from lessons.state import LessonState
from registry import LessonNotFound
from tests.support.redis import redis_client
from tests.support.settings import REPO
from tests.support.stack import Stack, running_stack

BROKEN = REPO / "tests" / "data" / "broken"


@pytest.fixture(scope="module")
def idle_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis and kubesim with no worker: what the client writes and enqueues stays visible."""
    with running_stack(tmp_path_factory.mktemp("client"), workers=0) as stack:
        yield stack


def redis_contents(stack: Stack) -> dict[str, int]:
    """Every key in Redis and its size: records, indexes and the workers' queue."""
    redis = redis_client(stack.settings.redis_url)
    size = {
        "hash": redis.hlen,
        "zset": redis.zcard,
        "set": redis.scard,
        "list": redis.llen,
        "string": redis.strlen,
    }
    return {key: size[redis.type(key)](key) for key in redis.keys("*")}


@pytest.mark.parametrize(
    ("lesson", "session_id", "error", "names"),
    [
        ("linux-basics", "../etc/passwd", ValueError, "session_id"),
        ("linux-basics", "x" * 65, ValueError, "session_id"),
        ("linux-basics", "", ValueError, "session_id"),
        ("linux-basics", "semi;colon", ValueError, "session_id"),
        ("no-such-lesson", "s1", UnknownLessonError, "unknown lesson 'no-such-lesson'"),
        (str(BROKEN / "unknown-field.yaml"), "s1", LessonError, "unknown-field.yaml:endpoint"),
        (str(BROKEN / "link-unknown-endpoint.yaml"), "s1", LessonError, "connections[1].b"),
        (str(BROKEN / "long-endpoint-name.yaml"), "s1", LessonError, "endpoints[0].name"),
    ],
)
def test_invalid_input_raises_naming_the_field_and_enqueues_nothing(
    idle_stack: Stack, lesson: str, session_id: str, error: type[Exception], names: str
) -> None:
    client = idle_stack.client()
    before = redis_contents(idle_stack)
    with pytest.raises(error) as raised:
        client.create(lesson, session_id)
    assert names in str(raised.value)
    assert redis_contents(idle_stack) == before


def test_unknown_ids_raise_lesson_not_found(idle_stack: Stack) -> None:
    client = idle_stack.client()
    before = redis_contents(idle_stack)
    for call in (client.status, client.keepalive, client.teardown):
        with pytest.raises(LessonNotFound, match="no lesson with id 'feedfacefeedface'"):
            call("feedfacefeedface")
    assert redis_contents(idle_stack) == before


def test_a_lesson_file_and_a_lesson_model_are_accepted_like_a_slug(
    idle_stack: Stack, session_id: str
) -> None:
    client = idle_stack.client()
    path = REPO / "examples" / "curriculum" / "lessons" / "linux-basics" / "lesson.meta.yaml"
    by_slug = client.create("linux-basics", session_id)
    assert client.create(path, session_id).id == by_slug.id
    assert client.create(str(path), session_id).id == by_slug.id
    model = client.resolve("linux-basics")[0]
    assert isinstance(model, Lesson)
    assert client.create(model, session_id).id == by_slug.id
    assert by_slug.state is LessonState.QUEUED
    client.teardown(by_slug.id)


def test_wait_gives_up_with_a_timeout_naming_the_state_and_step(
    idle_stack: Stack, session_id: str
) -> None:
    client = idle_stack.client()
    record = client.create("linux-basics", session_id)
    seen = []
    with pytest.raises(TimeoutError, match=r"still QUEUED after 0.3s \(step namespace\)"):
        client.wait(record.id, timeout=0.3, on_progress=seen.append)
    assert [r.state for r in seen] == [LessonState.QUEUED]
    client.teardown(record.id)
