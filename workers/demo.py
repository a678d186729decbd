"""`make demo`: one lesson provisioned and torn down on the embedded defaults, step by step.

Starts a local Redis and kubesim, a worker and beat, asks for an example lesson, shows each
step as it happens and the Kubernetes objects it made, tears the lesson down, and stops
everything it started.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from scheduler.client import ProgressCallback
from scheduler.state import LessonRecord, LessonState
from tasks.kube import NAD_GROUP, NAD_PLURAL, NAD_VERSION
from workers.local import Processes, start_cli, start_redis_and_kubesim

# A node that lets lesson devices forward IP, at a tenth of real time: vQFX switches take about
# 40 s to boot (4 s here), Linux hosts about 5 s.
IMAGE_PROFILES = [
    {"pattern": "*/vqfx:*", "boot_seconds": 40, "jitter_seconds": 10},
    {"pattern": "*", "boot_seconds": 5, "jitter_seconds": 2},
]
SIM_ARGS = [
    "--nodes",
    "node-1,node-2,node-3",
    "--time-scale",
    "0.1",
    "--allowed-unsafe-sysctls",
    "net.ipv4.ip_forward,net.ipv6.conf.all.forwarding",
    "--image-profiles",
    json.dumps(IMAGE_PROFILES),
]


@dataclass(frozen=True)
class WebPorts:
    """The intake and Flower that `lessonq up` adds to the stack."""

    intake: int
    flower: int
    flower_password: str


@dataclass
class LocalStack(Processes):
    def exports(self) -> str:
        """The settings as `NAME=value ...`, for a shell's `export`."""
        return " ".join(f"{name}={shlex.quote(value)}" for name, value in self.env.items())

    def supervise(self) -> int:
        """Wait until Ctrl-C (or SIGTERM): 0; or until one of the processes exits: 1."""
        # Set both: a process started with SIGINT ignored (in the background, under some
        # supervisors and test runners) would otherwise ignore Ctrl-C too.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while True:
                for process in self.processes:
                    if not process.running:
                        print(f"{process.name} exited; see {process.log}", file=sys.stderr)
                        return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
            return 0


@contextmanager
def local_stack(
    workdir: Path, curriculum: Path, web: WebPorts | None = None
) -> Iterator[LocalStack]:
    """Redis, kubesim, a worker and beat (and the intake and Flower), all stopped on exit."""
    with ExitStack() as stack:
        redis, sim = start_redis_and_kubesim(stack, workdir, SIM_ARGS)
        values = {
            "redis_url": redis.url,
            "kube_url": sim.url,
            "curriculum": curriculum,
            "instance_id": "demo",
            "readiness_watch": 2,
        }
        local = LocalStack(workdir, values)
        stack.callback(local.stop)
        local.start_worker("demo")
        local.start_beat()
        if web is not None:
            local.processes.append(
                start_cli(
                    ["intake", "--host", "127.0.0.1", "--port", str(web.intake)],
                    local.env,
                    workdir / "intake.log",
                    web.intake,
                )
            )
            local.processes.append(
                start_cli(
                    ["flower", "--address", "127.0.0.1", "--port", str(web.flower)],
                    {**local.env, "LESSONQ_FLOWER_PASSWORD": web.flower_password},
                    workdir / "flower.log",
                    web.flower,
                )
            )
        yield local


def show_progress(started: float) -> ProgressCallback:
    def report(record: LessonRecord) -> None:
        step = record.current_step or "-"
        print(
            f"  {time.monotonic() - started:6.2f}s  {record.state.value:<13} step {step:<28}"
            f" endpoints ready {record.healthy}/{record.total}",
            flush=True,
        )

    return report


def show_objects(url: str, namespace: str) -> None:
    configuration = k8s.Configuration()
    configuration.host = url
    with k8s.ApiClient(configuration) as api:
        core, net = k8s.CoreV1Api(api), k8s.NetworkingV1Api(api)
        custom = k8s.CustomObjectsApi(api)

        def items(listing: object) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = api.sanitize_for_serialization(listing)["items"]
            return found

        print(f"\nKubernetes objects in namespace {namespace}:")
        for pod in items(core.list_namespaced_pod(namespace)):
            ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}.get("Ready")
            print(
                f"  pod/{pod['metadata']['name']:<10} node={pod['spec']['nodeName']}"
                f" ip={pod['status'].get('podIP')} ready={ready}"
                f" image={pod['spec']['containers'][0]['image']}"
            )
        for service in items(core.list_namespaced_service(namespace)):
            ports = ",".join(str(p["port"]) for p in service["spec"].get("ports", []))
            print(
                f"  service/{service['metadata']['name']:<6}"
                f" clusterIP={service['spec']['clusterIP']} ports={ports or 'headless'}"
            )
        nads = custom.list_namespaced_custom_object(NAD_GROUP, NAD_VERSION, namespace, NAD_PLURAL)
        for nad in items(nads):
            print(
                f"  network-attachment-definition/{nad['metadata']['name']}"
                f" config={nad['spec']['config']}"
            )
        for policy in items(net.list_namespaced_network_policy(namespace)):
            print(
                f"  networkpolicy/{policy['metadata']['name']}"
                f" policyTypes={policy['spec']['policyTypes']}"
            )


def run(lesson: str, session_id: str, curriculum: Path) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="lessonq-demo-") as tmp,
        local_stack(Path(tmp), curriculum) as stack,
    ):
        settings = stack.settings
        client = stack.client()
        print(f"lessonq demo: Redis {settings.redis_url}, kubesim {settings.kube_url}")
        started = time.monotonic()
        record = client.create(lesson, session_id)
        print(
            f"\nlesson {lesson} for session {session_id}: id {record.id}, "
            f"namespace {record.namespace}"
        )
        ready = client.wait(record.id, timeout=120, on_progress=show_progress(started))
        if ready.state is not LessonState.READY:
            print(f"lesson ended {ready.state}: {ready.error}", file=sys.stderr)
            return 1
        for step, times in ready.steps.items():
            print(f"  step {step.value:<10} took {times.seconds or 0:.2f}s")
        show_objects(str(settings.kube_url), ready.namespace)

        print("\ntearing down")
        client.teardown(record.id)
        gone = client.wait(record.id, timeout=60, on_progress=show_progress(started))
        print(f"\nlesson {gone.state.value}; stopping Redis, kubesim, worker and beat")
        return 0 if gone.state is LessonState.GONE else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lesson", default="snapshot-testing")
    parser.add_argument("--session", default="demo-session")
    parser.add_argument("--curriculum", type=Path, default=Path("examples/curriculum"))
    args = parser.parse_args()
    sys.exit(run(args.lesson, args.session, args.curriculum.resolve()))


if __name__ == "__main__":
    main()
