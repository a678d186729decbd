"""lessonq's simulated node agent: it sets the links-wired readiness gate of the pods on its
node once their containers run, after its delay; down agents, slow ones and refused VNIs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes import client
from pydantic import ValidationError

from kubesim import ImageProfile, KubeSim
from kubesim.config import SimConfig, config_from_args
from kubesim.linkagent import GATE, VNI_ANNOTATION
from tests.kubesim.conftest import FAST, api_client, namespace, pod_body, wait_for

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
QUICK = [ImageProfile(pattern="*", boot_seconds=0.1, jitter_seconds=0)]


def lesson_pod(name: str, node: str = "node-1", networks: str = "", **spec: Any) -> dict[str, Any]:
    return pod_body(
        name,
        readinessGates=[{"conditionType": GATE}],
        nodeSelector={"kubernetes.io/hostname": node},
        annotations={NETWORKS: networks} if networks else None,
        **spec,
    )


def conditions(core: client.CoreV1Api, name: str) -> dict[str, Any]:
    pod = core.read_namespaced_pod(name, "a")
    return {c.type: c for c in pod.status.conditions or []}


def running(core: client.CoreV1Api, name: str) -> bool:
    return core.read_namespaced_pod(name, "a").status.phase == "Running"


def wired(core: client.CoreV1Api, name: str) -> bool:
    found = conditions(core, name).get(GATE)
    return found is not None and found.status == "True"


def ready(core: client.CoreV1Api, name: str) -> bool:
    found = conditions(core, name).get("Ready")
    return found is not None and found.status == "True"


@contextmanager
def cluster(**config: Any) -> Iterator[client.CoreV1Api]:
    settings = {"time_scale": FAST, "image_profiles": QUICK, **config}
    with KubeSim(**settings) as sim:
        core = client.CoreV1Api(api_client(sim))
        namespace(core, "a")
        yield core


@pytest.fixture
def faulty() -> Iterator[client.CoreV1Api]:
    with cluster(link_agent_down=["node-2"], link_agent_slow={"node-3": 3000}) as core:
        yield core


def test_the_gate_is_set_after_the_agents_delay_and_the_pod_turns_ready() -> None:
    with cluster(time_scale=1.0, link_agent_seconds=0.5) as core:
        core.create_namespaced_pod("a", lesson_pod("p"))
        wait_for(lambda: running(core, "p"), what="running")
        seen_running = time.monotonic()
        unready = conditions(core, "p")["Ready"]
        assert (unready.status, unready.reason, unready.message) == (
            "False",
            "ReadinessGatesNotReady",
            f'corresponding condition of pod readiness gate "{GATE}" does not exist.',
        )
        wait_for(lambda: ready(core, "p"), what="Ready")
        assert time.monotonic() - seen_running > 0.3
        gate = conditions(core, "p")[GATE]
        assert gate.status == "True" and gate.last_transition_time is not None


def test_pods_without_the_gate_are_left_alone() -> None:
    with cluster() as core:
        core.create_namespaced_pod("a", pod_body("plain"))
        core.create_namespaced_pod("a", lesson_pod("gated"))
        wait_for(lambda: wired(core, "gated"), what="gated pod wired")
        assert GATE not in conditions(core, "plain")
        assert ready(core, "plain")


def test_a_down_agent_wires_nothing_and_a_slow_one_takes_its_time(
    faulty: client.CoreV1Api,
) -> None:
    core = faulty
    for name, node in (("fine", "node-1"), ("down", "node-2"), ("slow", "node-3")):
        core.create_namespaced_pod("a", lesson_pod(name, node))
    wait_for(lambda: ready(core, "fine"), what="the pod on node-1 Ready")
    wait_for(lambda: running(core, "down") and running(core, "slow"), what="the others running")
    time.sleep(0.2)  # some seventy times the agent's delay (0.3 s scaled by 0.01)
    for name in ("down", "slow"):
        found = conditions(core, name)
        assert GATE not in found
        assert found["Ready"].reason == "ReadinessGatesNotReady"
        assert found["ContainersReady"].status == "True"


def nad(custom: client.CustomObjectsApi, name: str, vni: int | None) -> None:
    config = {"cniVersion": "0.3.1", "name": name, "type": "bridge", "bridge": f"br-{name}"}
    metadata: dict[str, Any] = {"name": name}
    if vni is not None:
        metadata["annotations"] = {VNI_ANNOTATION: str(vni)}
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NetworkAttachmentDefinition",
        "metadata": metadata,
        "spec": {"config": json.dumps(config)},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, "a", PLURAL, body)


def test_a_refused_vni_is_never_wired_and_says_so() -> None:
    with KubeSim(
        time_scale=FAST, image_profiles=QUICK, link_agent_refused_vnis=[5001, 5003]
    ) as sim:
        core = client.CoreV1Api(api_client(sim))
        custom = client.CustomObjectsApi(api_client(sim))
        namespace(core, "a")
        nad(custom, "plain", None)
        nad(custom, "ok", 5002)
        nad(custom, "refused", 5001)
        core.create_namespaced_pod("a", lesson_pod("bad", networks="plain@p1,ok@ok1,refused@r1"))
        core.create_namespaced_pod("a", lesson_pod("good", networks="plain@p1,ok@ok1"))
        wait_for(lambda: ready(core, "good"), what="the pod on accepted VNIs Ready")
        selector = "involvedObject.name=bad,reason=LinksNotWired"
        [event] = wait_for(
            lambda: core.list_namespaced_event("a", field_selector=selector).items,
            what="LinksNotWired",
        )
        assert event.type == "Warning"
        assert event.source.component == "lessonq-link-agent" and event.source.host == "node-1"
        assert "VNI 5001" in event.message and "a/refused" in event.message
        assert GATE not in conditions(core, "bad") and running(core, "bad")
        assert not core.list_namespaced_event(
            "a", field_selector="involvedObject.name=good,reason=LinksNotWired"
        ).items


def test_a_deleted_and_recreated_pod_is_wired_again() -> None:
    with cluster() as core:
        core.create_namespaced_pod("a", lesson_pod("p"))
        wait_for(lambda: ready(core, "p"), what="Ready")
        core.delete_namespaced_pod("p", "a", grace_period_seconds=0)
        wait_for(
            lambda: not core.list_namespaced_pod("a").items,
            what="the pod gone",
        )
        core.create_namespaced_pod("a", lesson_pod("p"))
        wait_for(lambda: ready(core, "p"), what="Ready again")


def test_link_agent_settings_from_flags_and_their_checks() -> None:
    config = config_from_args(
        [
            "--link-agent-seconds",
            "1.5",
            "--link-agent-down",
            "node-1,node-3",
            "--link-agent-slow",
            "node-2=5,node-3=0.5",
            "--link-agent-refused-vnis",
            "5001,5002",
        ]
    )
    assert config.link_agent_seconds == 1.5
    assert config.link_agent_down == ["node-1", "node-3"]
    assert config.link_agent_slow == {"node-2": 5.0, "node-3": 0.5}
    assert config.link_agent_refused_vnis == [5001, 5002]
    same = SimConfig.model_validate({"link_agent_slow": '{"node-1": 2}'})
    assert same.link_agent_slow == {"node-1": 2.0}
    assert SimConfig().link_agent_seconds == 0.3
    for fields, problem in (
        ({"link_agent_down": "node-9"}, "link_agent_down: node-9 is not one of the nodes"),
        ({"link_agent_slow": "node-9=1"}, "link_agent_slow: node-9 is not one of the nodes"),
        ({"link_agent_slow": "node-1=-1"}, "negative delay"),
        ({"link_agent_slow": "5"}, "'5' is not node=seconds"),
        ({"link_agent_refused_vnis": "five"}, "valid integer"),
    ):
        with pytest.raises(ValidationError, match=problem):
            SimConfig.model_validate(fields)
