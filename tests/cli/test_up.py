"""`lessonq up`: the whole stack on this machine, usable at once, gone after Ctrl-C."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess

import httpx

from tests.cli.run import LESSONQ, lessonq
from workers.local import free_port


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_serves_everything_until_interrupted() -> None:
    intake, flower = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONQ_")}
    process = subprocess.Popen(
        [str(LESSONQ), "up", "--intake-port", str(intake), "--flower-port", str(flower)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        banner = ""
        while "export " not in banner:
            line = process.stdout.readline()
            assert line, f"lessonq up ended early: {banner}{process.stderr.read()}"
            banner += line
        exports = dict(
            item.split("=", 1) for item in shlex.split(banner.split("export ", 1)[1]))
        password = re.search(r"password (\S+)\)", banner)
        assert password, banner

        assert httpx.get(f"http://127.0.0.1:{intake}/healthz").status_code == 200
        workers = f"http://127.0.0.1:{flower}/api/workers"
        assert httpx.get(workers).status_code == 401
        assert httpx.get(workers, auth=("admin", password.group(1))).status_code == 200
        created = lessonq("create", "linux-basics", "--session", "up-1", "--wait",
                          env={**env, **exports})
        assert created.returncode == 0, created.stdout + created.stderr
        assert "state       READY" in created.stdout
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0, process.stderr.read()
    assert not listening(intake) and not listening(flower)
    redis_port = int(exports["LESSONQ_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    assert not listening(redis_port)
