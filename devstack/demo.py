"""`make demo`: one lesson provisioned and torn down on the embedded defaults, step by step, then
one claimed from a warm pool.

Starts a local Redis and kubesim, a worker and beat, asks for an example lesson, shows each
step as it happens and the Kubernetes objects it made, tears the lesson down, and stops
everything it started.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from config.settings import Settings
from devstack.stack import local_stack
from kube import Kube
from kube.kinds import (
    CONFIG_MAP,
    JOB,
    NETWORK_ATTACHMENT_DEFINITION,
    NETWORK_POLICY,
    POD,
    SERVICE,
)
from lessons.state import LessonRecord, LessonState
from scheduler.client import LessonClient, ProgressCallback


def show_progress(started: float) -> ProgressCallback:
    def report(record: LessonRecord) -> None:
        step = record.current_step or "-"
        print(
            f"  {time.monotonic() - started:6.2f}s  {record.state.value:<13} step {step:<28}"
            f" endpoints ready {record.healthy}/{record.total}",
            flush=True,
        )

    return report


def show_objects(settings: Settings, namespace: str) -> None:
    """What the lesson's namespace holds, read through the workers' own edge to the API."""
    kube = Kube.from_settings(settings)
    try:
        print(f"\nKubernetes objects in namespace {namespace}:")
        for pod in kube.listing(POD, namespace, "").items:
            ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}.get("Ready")
            print(
                f"  pod/{pod['metadata']['name']:<10} node={pod['spec']['nodeName']}"
                f" ip={pod['status'].get('podIP')} ready={ready}"
                f" image={pod['spec']['containers'][0]['image']}"
            )
        for service in kube.listing(SERVICE, namespace, "").items:
            ports = ",".join(str(p["port"]) for p in service["spec"].get("ports", []))
            print(
                f"  service/{service['metadata']['name']:<6}"
                f" clusterIP={service['spec']['clusterIP']} ports={ports or 'headless'}"
            )
        for nad in kube.listing(NETWORK_ATTACHMENT_DEFINITION, namespace, "").items:
            print(
                f"  network-attachment-definition/{nad['metadata']['name']}"
                f" config={nad['spec']['config']}"
            )
        for policy in kube.listing(NETWORK_POLICY, namespace, "").items:
            print(
                f"  networkpolicy/{policy['metadata']['name']}"
                f" policyTypes={policy['spec']['policyTypes']}"
            )
        for files in kube.listing(CONFIG_MAP, namespace, "").items:
            count = len(files.get("data") or {}) + len(files.get("binaryData") or {})
            print(f"  configmap/{files['metadata']['name']} files={count} (at /antidote)")
        for job in kube.listing(JOB, namespace, "").items:
            command = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
            print(
                f"  job/{job['metadata']['name']} succeeded={job['status'].get('succeeded', 0)}"
                f" command={command}"
            )
    finally:
        kube.close()


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
        show_objects(settings, ready.namespace)

        print("\ntearing down")
        client.teardown(record.id)
        gone = client.wait(record.id, timeout=60, on_progress=show_progress(started))
        print(f"\nlesson {gone.state.value}")
        claimed = from_the_pool(client, lesson, session_id)
        print("stopping Redis, kubesim, worker and beat")
        return 0 if gone.state is LessonState.GONE and claimed else 1


def from_the_pool(client: LessonClient, lesson: str, session_id: str) -> bool:
    """A warm pool of one: its lesson provisioned before anyone asks, then claimed READY."""
    print(f"\nwarm pool: keeping one {lesson} READY for the next session")
    client.set_pools({lesson: 1})
    give_up = time.monotonic() + 120
    while not any(pool.ready for pool in client.pools()):
        if time.monotonic() > give_up:
            print("the pool did not fill", file=sys.stderr)
            return False
        time.sleep(0.1)
    asked = time.monotonic()
    record = client.create(lesson, f"{session_id}-next")
    took = (time.monotonic() - asked) * 1000
    print(
        f"  session {session_id}-next got lesson {record.id}: {record.state.value} in {took:.0f} ms"
        f"{' (from the warm pool)' if record.pooled else ''}"
    )
    client.set_pools({lesson: 0})
    client.teardown(record.id)
    return record.pooled and record.state is LessonState.READY
