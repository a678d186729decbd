"""`lessonq up`: the whole stack on this machine, usable at once, gone after Ctrl-C."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
from pathlib import Path

import httpx

from devstack.local import free_port
from tests.cli.run import LESSONQ, lessonq


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def logs_of(banner: str) -> str:
    """The tail of each log in the folder `lessonq up` printed, to see what did not stop."""
    found = re.search(r"^  logs\s+(\S+)$", banner, re.MULTILINE)
    if found is None:
        return banner
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
        for log in sorted(Path(found.group(1)).rglob("*.log"))
    )


def test_up_serves_everything_until_interrupted() -> None:
    intake, flower = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONQ_")}
    process = subprocess.Popen(
        [str(LESSONQ), "up", "--intake-port", str(intake), "--flower-port", str(flower)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    banner = ""
    try:
        while "export " not in banner:
            line = process.stdout.readline()
            assert line, f"lessonq up ended early: {banner}{process.stderr.read()}"
            banner += line
        exports = dict(item.split("=", 1) for item in shlex.split(banner.split("export ", 1)[1]))
        password = re.search(r"password (\S+)\)", banner)
        assert password, banner

        assert httpx.get(f"http://127.0.0.1:{intake}/healthz").status_code == 200
        workers = f"http://127.0.0.1:{flower}/api/workers"
        assert httpx.get(workers).status_code == 401
        assert httpx.get(workers, auth=("admin", password.group(1))).status_code == 200
        # The printed exports are all the other commands need to reach this stack. (A lesson
        # from create to READY is test_lessons' and test_serve's to show.)
        listed = lessonq("list", "--json", env={**env, **exports})
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert listed.stdout.strip() == "[]"
        assert exports["LESSONQ_INSTANCE_ID"] == "demo"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(f"lessonq up did not stop; its logs: {logs_of(banner)}") from None
    assert code == 0, process.stderr.read()
    assert not listening(intake) and not listening(flower)
    redis_port = int(exports["LESSONQ_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    assert not listening(redis_port)
