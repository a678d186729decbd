"""A stack of its own for the operations tests: its worker serves metrics and logs JSON, and
kubesim's faults can be set without disturbing other tests. (The ClusterRole test, which counts
kubesim's requests, starts a stack of its own.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.local import free_port
from tests.support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def ops_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {"metrics_port": free_port(), "metrics_host": "127.0.0.1", "log_json": True}
    with running_stack(tmp_path_factory.mktemp("ops"), settings=settings) as running:
        yield running
