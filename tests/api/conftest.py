"""The intake as a real process (``python -m scheduler.intake``) in front of a test stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.settings import REPO
from tests.support.stack import Stack, running_stack
from workers.local import free_port

START_TIMEOUT = 30.0


class Intake:
    """One intake process on a free port; `overrides` are settings on top of the stack's."""

    def __init__(self, stack: Stack, log: Path, **overrides: Any) -> None:
        # Only the stack's settings and ours: nothing from the environment running the tests.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONQ_")}
        env.update(stack.env)
        env.update({f"LESSONQ_{name.upper()}": str(value) for name, value in overrides.items()})
        self.log = log
        self.url = f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self._output = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        self._process = subprocess.Popen(
            [sys.executable, "-m", "scheduler.intake", "--host", "127.0.0.1", "--port", port],
            env=env,
            cwd=REPO,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        give_up = time.monotonic() + START_TIMEOUT
        while time.monotonic() < give_up:
            if self._process.poll() is not None:
                raise RuntimeError(f"the intake exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the intake did not answer within {START_TIMEOUT}s; see {self.log}")

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
        self._output.close()


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
