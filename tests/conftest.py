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
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from tests.support.stack import Stack, running_stack

_sessions = itertools.count()
FAST = {"unit", "component"}
REAL_CLUSTER = "realcluster"
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _area(item) not in FAST:
            item.add_marker(pytest.mark.integration)


def _area(item: pytest.Item) -> str:
    return item.path.relative_to(TESTS).parts[0]


class RealClusterTogether(LoadScopeScheduling):
    """`-n N` as with `--dist load`, except that tests/realcluster goes to one worker: they
    share one control plane, a session fixture, which a second worker would start again. (The
    scheduler hands out the largest scope first: this one, the longest.)
    (`--dist loadgroup` does not work with pytest 9: xdist 3.8 renames `item._nodeid`.)"""

    def _split_scope(self, nodeid: str) -> str:
        return REAL_CLUSTER if nodeid.startswith(f"tests/{REAL_CLUSTER}/") else nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> RealClusterTogether:
    return RealClusterTogether(config, log)


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
