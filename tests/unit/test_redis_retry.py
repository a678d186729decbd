"""How long a Redis client retries: workers ride out a restart, the intake gives up soon."""

from __future__ import annotations

import pytest

from config.settings import Settings, load_settings
from registry import connect
from scheduler.intake.app import intake_connection

NOWHERE = "redis://127.0.0.1:1/0"


def retries(client: object) -> int:
    retry = client.get_retry()  # type: ignore[attr-defined]
    assert retry is not None
    return int(retry.get_retries())


@pytest.mark.parametrize(("seconds", "expected"), [(0, 0), (0.1, 1), (1, 3), (5, 5), (45, 25)])
def test_a_retry_budget_in_seconds_of_pauses(seconds: float, expected: int) -> None:
    # Pauses of 0.1 s, doubling up to 2 s: 3 retries pause 0.7 s, 5 pause 3.1 s.
    assert retries(connect(NOWHERE, seconds)) == expected


def test_workers_keep_the_long_default_and_the_intake_takes_its_setting() -> None:
    assert retries(connect(NOWHERE)) == 25
    assert Settings.model_fields["intake_redis_retry"].default == 5
    for seconds, expected in ((5, 5), (0, 0)):
        settings = load_settings(redis_url=NOWHERE, intake_redis_retry=seconds)
        assert retries(intake_connection(settings)) == expected
