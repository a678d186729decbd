"""Readiness gates as the v1.20 kubelet handles them: Ready waits for every gate's condition,
which someone else sets through pods/status; the conditionType must be a qualified name."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from kubesim import ImageProfile, KubeSim
from tests.kubesim.conftest import FAST, api_client, error_body, pod_body, wait_for

GATE = "example.com/load-balancer"
OTHER = "example.com/dns"


def gated(name: str, *gates: str, **spec: Any) -> dict[str, Any]:
    return pod_body(name, readinessGates=[{"conditionType": g} for g in gates], **spec)


def condition(core: client.CoreV1Api, name: str, kind: str) -> tuple[str, str, str] | None:
    pod = core.read_namespaced_pod(name, "default")
    found = [c for c in pod.status.conditions or [] if c.type == kind]
    return (found[0].status, found[0].reason, found[0].message) if found else None


def containers_ready(core: client.CoreV1Api, name: str) -> bool:
    return condition(core, name, "ContainersReady") == ("True", None, None)


def set_gate(core: client.CoreV1Api, name: str, kind: str, status: str) -> None:
    """As a controller sets it: a strategic merge patch of pods/status (conditions merge by
    type, so the kubelet's stay)."""
    patch = {"status": {"conditions": [{"type": kind, "status": status}]}}
    core.patch_namespaced_pod_status(name, "default", patch)


def test_ready_waits_for_the_gates_condition_then_follows_it(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", gated("p", GATE))
    wait_for(lambda: containers_ready(core, "p"), what="containers ready")
    assert condition(core, "p", "Ready") == (
        "False",
        "ReadinessGatesNotReady",
        f'corresponding condition of pod readiness gate "{GATE}" does not exist.',
    )
    set_gate(core, "p", GATE, "False")
    wait_for(
        lambda: (
            condition(core, "p", "Ready")
            == (
                "False",
                "ReadinessGatesNotReady",
                f'the status of pod readiness gate "{GATE}" is not "True", but False',
            )
        ),
        what="the gate's False status in Ready's message",
    )
    set_gate(core, "p", GATE, "True")
    wait_for(lambda: condition(core, "p", "Ready") == ("True", None, None), what="Ready")
    assert condition(core, "p", GATE) == ("True", None, None)
    assert containers_ready(core, "p")
    set_gate(core, "p", GATE, "Unknown")  # and back: Ready follows the gate
    wait_for(
        lambda: (c := condition(core, "p", "Ready")) is not None and c[0] == "False",
        what="not Ready again",
    )
    assert condition(core, "p", "Ready") == (
        "False",
        "ReadinessGatesNotReady",
        f'the status of pod readiness gate "{GATE}" is not "True", but Unknown',
    )


def test_every_unready_gate_is_named_in_order(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", gated("p", GATE, OTHER))
    wait_for(lambda: containers_ready(core, "p"), what="containers ready")
    set_gate(core, "p", OTHER, "False")
    expected = (
        f'corresponding condition of pod readiness gate "{GATE}" does not exist., '
        f'the status of pod readiness gate "{OTHER}" is not "True", but False'
    )
    wait_for(
        lambda: condition(core, "p", "Ready") == ("False", "ReadinessGatesNotReady", expected),
        what="both gates named",
    )
    set_gate(core, "p", GATE, "True")
    set_gate(core, "p", OTHER, "True")
    wait_for(lambda: condition(core, "p", "Ready") == ("True", None, None), what="Ready")


def test_unready_containers_come_first() -> None:
    """While ContainersReady is not True, Ready carries its reason and message, gates or not."""
    profiles = [ImageProfile(pattern="*stuck*", outcome="never-ready")]
    with KubeSim(time_scale=FAST, image_profiles=profiles) as sim:
        core = client.CoreV1Api(api_client(sim))
        probe = {"readinessProbe": {"tcpSocket": {"port": 80}}}
        core.create_namespaced_pod("default", gated("p", GATE, image="stuck:1", container=probe))
        wait_for(
            lambda: core.read_namespaced_pod("p", "default").status.phase == "Running",
            what="running",
        )
        set_gate(core, "p", GATE, "True")
        wait_for(lambda: condition(core, "p", GATE) is not None, what="the gate's condition")
        unready = ("False", "ContainersNotReady", "containers with unready status: [main]")
        assert condition(core, "p", "ContainersReady") == unready
        assert condition(core, "p", "Ready") == unready


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "bad gate",
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character",
        ),
        ("Example.com/x", "prefix part a lowercase RFC 1123 subdomain must consist of"),
        ("a/b/c", "a qualified name must consist of"),
    ],
)
def test_a_gate_must_be_a_qualified_name(core: client.CoreV1Api, kind: str, message: str) -> None:
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_pod("default", gated("p", "example.com/fine", kind))
    assert caught.value.status == 422
    [cause] = error_body(caught.value)["details"]["causes"]
    assert cause["field"] == "spec.readinessGates[1].conditionType"
    assert cause["reason"] == "FieldValueInvalid"
    assert message in cause["message"]
    assert cause["message"].startswith(f'Invalid value: "{kind}": ')
