"""GET and PUT /v1/pools, and the pools' metrics, on an intake of an instance of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Intake, running_intake
from tests.api.helpers import assert_error, problem_fields
from tests.support.stack import Stack

POOLS = "/v1/pools"


@pytest.fixture
def pooled(idle_stack: Stack, tmp_path: Path) -> Iterator[Intake]:
    with running_intake(
        idle_stack, tmp_path, "pools", instance_id="pools", warm_pool="linux-basics=2"
    ) as intake:
        yield intake


def sizes(response: httpx.Response) -> dict[str, int]:
    assert response.status_code == 200, response.text
    return {pool["slug"]: pool["size"] for pool in response.json()["pools"]}


def test_pools_are_listed_set_and_refused_with_the_field_that_is_wrong(pooled: Intake) -> None:
    with pooled.client() as api:
        [pool] = api.get(POOLS).json()["pools"]
        assert pool == {
            "slug": "linux-basics",
            "size": 2,
            "ready": 0,
            "provisioning": 0,
            "claims": 0,
            "misses": 0,
            "refills": 0,
            "refill_seconds": 0.0,
            "last_refill_seconds": None,
        }

        changed = api.put(POOLS, json={"sizes": {"snapshot-testing": 1, "linux-basics": 0}})
        assert sizes(changed) == {"linux-basics": 0, "snapshot-testing": 1}
        assert sizes(api.get(POOLS)) == {"linux-basics": 0, "snapshot-testing": 1}

        unknown = api.put(POOLS, json={"sizes": {"no-such-lesson": 1, "linux-basics": 3}})
        assert problem_fields(unknown) == {"sizes.no-such-lesson"}
        assert problem_fields(api.put(POOLS, json={"sizes": {"linux-basics": -1}})) == {
            "sizes.linux-basics"
        }
        assert problem_fields(api.put(POOLS, json={"sizes": {"linux-basics": "3"}})) == {
            "sizes.linux-basics"
        }
        assert problem_fields(api.put(POOLS, json={"size": 3})) >= {"sizes", "size"}
        assert_error(api.put(POOLS, content=b"{"), 422, "invalid_request")
        # Nothing changed.
        assert sizes(api.get(POOLS)) == {"linux-basics": 0, "snapshot-testing": 1}

        metrics = api.get("/metrics").text
        assert 'lessonq_pool_size{lesson="snapshot-testing"} 1.0' in metrics
        assert 'lessonq_pool_claims_total{lesson="linux-basics"} 0.0' in metrics
