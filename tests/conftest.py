"""Shared fixtures: one running lessonq stack per test process, and fresh ones on demand.

The fast tests (the logic, in milliseconds: `make test-fast`) live in tests/unit and
tests/component; every other directory holds integration tests (real Redis, workers, kubesim,
subprocesses), marked `integration` here so that `-m "not integration"` leaves them out.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, running_stack

_sessions = itertools.count()
FAST = {"unit", "component"}
REAL_CLUSTER = "realcluster"
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        area = item.path.relative_to(TESTS).parts[0]
        if area not in FAST:
            item.add_marker(pytest.mark.integration)
        if area == REAL_CLUSTER:
            # one control plane for them all: on one xdist worker (make test: --dist loadgroup)
            item.add_marker(pytest.mark.xdist_group(REAL_CLUSTER))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis, kubesim and one worker, shared by the tests that do not break things."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def session_id(request: pytest.FixtureRequest) -> str:
    """A session id no other test uses."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:40]
    return f"{name}-{next(_sessions)}"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
