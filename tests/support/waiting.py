"""Waiting for what another process does: the local processes' own poll, with a test's pace."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from devstack.local import wait_for

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30, what: str = "the check") -> T:
    """The first truthy result of `check`, polled until `timeout` (then TimeoutError)."""
    return wait_for(check, timeout, f"{what} passing", every=0.3)
