"""The intake as a real process (``lessonq intake``) in front of a test stack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.local import free_port, settings_env, start_cli
from tests.support.stack import Stack, running_stack


class Intake:
    """One intake process on a free port; `overrides` are settings on top of the stack's."""

    def __init__(self, stack: Stack, log: Path, **overrides: Any) -> None:
        port = free_port()
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        # Only the stack's settings and ours: nothing from the environment running the tests.
        self._process = start_cli(
            ["intake", "--host", "127.0.0.1", "--port", str(port)],
            {**stack.env, **settings_env(overrides)},
            log,
            port,
            inherit_settings=False,
        )

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self) -> None:
        self._process.stop()


@contextmanager
def running_intake(stack: Stack, workdir: Path, name: str, **overrides: Any) -> Iterator[Intake]:
    intake = Intake(stack, workdir / f"intake-{name}.log", **overrides)
    try:
        yield intake
    finally:
        intake.stop()


@pytest.fixture(scope="session")
def intake(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """The intake in front of the shared stack (Redis, kubesim and a worker)."""
    with running_intake(stack, tmp_path_factory.mktemp("intake"), "shared") as running:
        yield running


@pytest.fixture(scope="session")
def api(intake: Intake) -> Iterator[httpx.Client]:
    with intake.client() as client:
        yield client


@pytest.fixture(scope="session")
def idle_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis and kubesim without a worker: lessons asked for stay QUEUED, nothing is built.

    Tests that only need records (limits, auth, generated bodies) use it, each intake with an
    instance id of its own, so that their lessons count against separate limits.
    """
    with running_stack(tmp_path_factory.mktemp("idle"), workers=0) as running:
        yield running
