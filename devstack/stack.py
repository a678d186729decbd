"""A whole lessonq stack on this machine for development: its own Redis and kubesim, a worker
and beat, and for `lessonq up` the intake and Flower too; all stopped together."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.local import Processes, start_cli, start_redis_and_kubesim

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
