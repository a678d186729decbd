"""Overlay links: a lesson spread over nodes next to the same lesson on one node, and the real
node agent's pass over many tunnels.

Two stacks, up together, each kubesim on the ttr section's arguments (every call 20 ms, every
container 1.0 s to boot, its readiness probe passing 0.5 s later) and one worker of 2 processes:

- overlay: LESSONQ_LINKS=overlay on three nodes that hold 6 pods each. A 16-endpoint ring
  lesson cannot fit one node, so its pods spread over all three (checked on each run: the
  section fails if they did not), its 16 links get VNIs, and each pod waits for its
  `lessonq.io/links-wired` readiness gate, which kubesim's simulated node agent sets
  `link_agent_seconds` (kubesim's default, 0.3 s) after the pod's containers run;
- bridge: LESSONQ_LINKS=bridge on one node that holds 18 pods (the overlay's three together):
  the same lesson, every pod on that node (checked).

First a lesson on each stack at once warms the workers up (not counted). Then the lessons run
one at a time, overlay then bridge in turn, each on idle stacks: a lesson is torn down and its
namespace gone before the next starts (on the overlay, a lesson going still holds room the next
needs). `overlay_ttr_ms_16` and `bridge_ttr_ms_16` are the medians from `create` to READY (the
record's times, as in the ttr section); `overlay_vs_bridge_16` is their ratio. What the overlay
adds: allocating 16 VNIs in Redis before the link networks, pods spread by a preference rather
than held together, and every pod Ready only once its gate is set (the agent's patch, then the
kubelet's Ready again). The agent wires from the moment the containers run, beside the readiness
probe: its 0.3 s ends before the probe's 0.5 s, so here the wiring itself is hidden; it shows
only when an agent takes longer than the probe (`link_agent_slow`, a real node's tunnels).

The real node agent (`nodeagent.agent.Agent` on `LinuxHost`) is timed by
`tests.dataplane.measure_tunnels`' own rounds, in network namespaces of this machine: a node
with 300 lesson bridges, then a fresh agent's first pass making 300 VXLAN tunnels of two peers
each and the allow-list (`agent_pass_ms_300_first`), and a pass with nothing to change, the
steady state (`agent_pass_ms_300_idle`); medians of the rounds. A round after the first
takes some 5 s more to build its node while the kernel still dismantles the last round's
namespaces (not in the figures), hence one round in quick mode. Only as root with `ip`, `nft`
and the bridge and static CNI plugins (as the data-plane tests); otherwise those figures are
left out, with the reason printed (and kept as `agent_pass_skipped`).

Quick mode: 2 counted lessons of each mode and 1 agent round; --full: 7 and 5.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from bench import ttr
from bench.harness import BenchStack, bench_stack, median, wait_settled
from bench.lessons import ring_lesson
from kubesim.config import SimConfig
from lessons.state import LessonRecord, LessonState

ENDPOINTS = 16
NODE_PODS = 6
OVERLAY_NODES = ("node-1", "node-2", "node-3")
TUNNELS = 300

# The ttr section's kubesim, with a teardown that ends quickly (a pod stops 50 ms after its
# delete, an empty namespace goes 50 ms later, rather than 1 s and 2 s): the next lesson waits
# for it, and neither delay is in a time to READY.
SIM_ARGS = [*ttr.SIM_ARGS, "--termination-seconds", "0.05", "--namespace-delete-seconds", "0.05"]
OVERLAY_SIM_ARGS = [
    *SIM_ARGS,
    "--nodes",
    ",".join(OVERLAY_NODES),
    "--allocatable",
    f"pods:{NODE_PODS}",
]
BRIDGE_SIM_ARGS = [
    *SIM_ARGS,
    "--nodes",
    "node-1",
    "--allocatable",
    f"pods:{NODE_PODS * len(OVERLAY_NODES)}",
]


class _Mode:
    """One stack and its client, and what is needed to look at its cluster."""

    def __init__(self, stack: BenchStack) -> None:
        stack.start_worker("bench", concurrency=2)
        self.client = stack.client()
        configuration = k8s.Configuration()
        configuration.host = stack.sim.url.rstrip("/")
        self._api = k8s.ApiClient(configuration)
        self._core = k8s.CoreV1Api(self._api)

    def close(self) -> None:
        self._api.close()

    def nodes(self, namespace: str) -> dict[str, int]:
        """Pods of the namespace per node."""
        counts: dict[str, int] = {}
        for pod in self._core.list_namespaced_pod(namespace).items:
            node = str(pod.spec.node_name if pod.spec else None)
            counts[node] = counts.get(node, 0) + 1
        return counts

    def run(self, name: str) -> tuple[float, LessonRecord, dict[str, int]]:
        """A lesson to READY and torn down until its namespace is gone: its time to READY, its
        record and where its pods were."""
        record = self.client.create(ring_lesson(ENDPOINTS), name)
        (ready,) = wait_settled(self.client, [record.id], timeout=120)
        if ready.state is not LessonState.READY:
            raise RuntimeError(f"lesson {name} ended {ready.state}: {ready.error}")
        nodes = self.nodes(ready.namespace)
        self.client.teardown(record.id)
        wait_settled(self.client, [record.id], timeout=120)
        self._wait_gone(ready.namespace, timeout=120)
        return (ready.ready_at or 0) - ready.created_at, ready, nodes

    def _wait_gone(self, namespace: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._core.read_namespace(namespace, _preload_content=False)
            except ApiException as error:
                if error.status == 404:
                    return
                raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"namespace {namespace} still there after {timeout}s")
            time.sleep(0.05)


def _lessons(workdir: Path, repeats: int) -> dict[str, Any]:
    for mode in ("overlay", "bridge"):
        (workdir / mode).mkdir(exist_ok=True)
    with ExitStack() as exits:
        overlay_stack = exits.enter_context(
            bench_stack(workdir / "overlay", OVERLAY_SIM_ARGS, links="overlay")
        )
        bridge_stack = exits.enter_context(
            bench_stack(workdir / "bridge", BRIDGE_SIM_ARGS, links="bridge")
        )
        overlay, bridge = _Mode(overlay_stack), _Mode(bridge_stack)
        exits.callback(overlay.close)
        exits.callback(bridge.close)
        # Warm-up, not counted: a lesson on each stack at once (the stacks share nothing).
        with ThreadPoolExecutor(2) as threads:
            for future in [threads.submit(mode.run, "warm-up") for mode in (overlay, bridge)]:
                future.result()
        overlay_times, bridge_times, vnis = [], [], 0
        spread: dict[str, int] = {}
        for attempt in range(repeats):
            took, record, spread = overlay.run(f"overlay-{attempt}")
            if len(spread) != len(OVERLAY_NODES):
                raise RuntimeError(f"the overlay lesson did not spread over 3 nodes: {spread}")
            if len(set(record.vnis)) != ENDPOINTS:
                raise RuntimeError(f"the overlay lesson's links have VNIs {record.vnis}")
            vnis = len(record.vnis)
            overlay_times.append(took)
            took, record, together = bridge.run(f"bridge-{attempt}")
            if len(together) != 1 or record.vnis:
                raise RuntimeError(f"the bridge lesson: pods {together}, VNIs {record.vnis}")
            bridge_times.append(took)
    overlay_ttr, bridge_ttr = median(overlay_times), median(bridge_times)
    return {
        "overlay_ttr_ms_16": round(overlay_ttr * 1000),
        "bridge_ttr_ms_16": round(bridge_ttr * 1000),
        "overlay_vs_bridge_16": round(overlay_ttr / bridge_ttr, 2),
        "overlay_pods_per_node_16": dict(sorted(spread.items())),
        "overlay_vnis_16": vnis,
        "overlay_link_agent_s": SimConfig().link_agent_seconds,
    }


def _why_no_agent_pass() -> str | None:
    """Why the real agent's pass cannot be timed here (what the data-plane tests need)."""
    try:
        from tests.dataplane.cni import plugin_dir
        from tests.dataplane.netns import missing_tools
    except ImportError as error:
        return f"tests.dataplane is not importable ({error}); run from the repository"
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [f"`{tool}`" for tool in missing_tools()]
    if plugin_dir() is None:
        missing.append("the bridge and static CNI plugins")
    return f"needs {', '.join(missing)}" if missing else None


def _agent_pass(repeats: int) -> dict[str, Any]:
    reason = _why_no_agent_pass()
    if reason is not None:
        print(f"overlay: agent_pass_ms_{TUNNELS}_* left out: {reason}", file=sys.stderr)
        return {"agent_pass_skipped": reason}
    from tests.dataplane.measure_tunnels import round_

    rounds = [round_(TUNNELS) for _ in range(repeats)]
    return {
        f"agent_pass_ms_{TUNNELS}_first": round(
            statistics.median(r["first"] for r in rounds) * 1000
        ),
        f"agent_pass_ms_{TUNNELS}_idle": round(statistics.median(r["idle"] for r in rounds) * 1000),
    }


def run(workdir: Path, quick: bool) -> dict[str, Any]:
    return {**_lessons(workdir, 2 if quick else 7), **_agent_pass(1 if quick else 5)}
