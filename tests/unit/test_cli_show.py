"""What `lessonq` prints of times: UTC, like the API, whatever the machine's time zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from scheduler.cli_show import when


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_printed_in_utc_like_the_api(far_from_utc: None) -> None:
    assert time.localtime(0).tm_hour == 9  # the machine's zone is not UTC
    assert when(1_795_802_769.443) == "2026-11-27T18:06:09Z"
    assert when(None) == "-"
    # The API's form of the same instant names the same second.
    api = "2026-11-27T18:06:09.443000Z"
    assert datetime.fromisoformat(when(1_795_802_769)) == datetime.fromisoformat(api).replace(
        microsecond=0
    )
