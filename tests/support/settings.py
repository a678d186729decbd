"""Settings for the lessonq stacks the tests start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# Fast clocks for tests: short watches, backoffs and stall detection; the provisioning deadline
# stays generous so a loaded CI machine does not fail lessons.
TEST_SETTINGS: dict[str, Any] = {
    "instance_id": "test",
    "queue": "lessonq",
    "curriculum": REPO / "examples" / "curriculum",
    # Every tier of the example curriculum is served (bgp-spine-leaf is ptr).
    "tier": "local",
    "provision_timeout": 90,
    "lesson_ttl": 600,
    "readiness_watch": 1,
    "retry_backoff_max": 1,
    "stall_timeout": 5,
    "task_time_limit": 20,
    "visibility_timeout": 60,
    "gc_interval": 1,
    "api_timeout": 5,
}

# kubesim like a cluster node that lets lesson devices forward IP, at 1/20 of real time.
FORWARDING_SYSCTLS = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]
TEST_SIM: dict[str, Any] = {
    "time_scale": 0.05,
    "allowed_unsafe_sysctls": FORWARDING_SYSCTLS,
}
