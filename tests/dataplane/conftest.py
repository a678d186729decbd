"""The data-plane tests: marked `dataplane`, and skipped (one reason, naming what is missing)
where they cannot run: they need root, ``ip``, ``nft`` and the bridge and static CNI plugins."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dataplane.cni import PLUGINS, SEARCHED, plugin_dir
from tests.dataplane.lab import Lab
from tests.dataplane.netns import Namespaces, missing_tools

HERE = Path(__file__).parent


def why_not() -> str | None:
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    missing += [f"`{tool}`" for tool in missing_tools()]
    if plugin_dir() is None:
        places = " or ".join(str(directory) for directory in SEARCHED)
        missing.append(
            f"the CNI plugins {' and '.join(PLUGINS)} in {places} "
            "(apt-get install containernetworking-plugins)"
        )
    if not missing:
        return None
    return "data-plane tests need " + ", ".join(missing)


_REASON = why_not()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.dataplane)
            if _REASON is not None:
                item.add_marker(pytest.mark.skip(reason=_REASON))


@pytest.fixture
def spaces() -> Iterator[Namespaces]:
    made = Namespaces()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def lab(spaces: Namespaces) -> Lab:
    """A node with two sessions of snapshot-testing and the cluster's other pods, wired."""
    return Lab(spaces)
