"""The `lessonq` commands that run a service: worker, beat, flower, intake, sim and up.

worker, beat and flower become `celery -A workers.app ...` (exec: the process is Celery's, for
signals and exit codes); the settings are checked first so a bad one is one line, not a
traceback from inside Celery. intake and sim run in this process.
"""

from __future__ import annotations

import argparse
import os
import secrets
import stat
import sys
import tempfile
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

from config.settings import load_settings

CELERY = [sys.executable, "-m", "celery", "-A", "workers.app"]
FLOWER_AUTH_ENV = "FLOWER_BASIC_AUTH"


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _exec(command: list[str], env: dict[str, str] | None = None) -> NoReturn:
    sys.stdout.flush()
    os.execvpe(command[0], command, {**os.environ, **(env or {})})


def worker(args: argparse.Namespace) -> int:
    from workers import metrics

    # prometheus_client must find its multiprocess directory when Celery first imports it.
    env = metrics.environment(load_settings())
    return _exec([*CELERY, "worker", "--loglevel", "INFO", *args.extra], env)


def beat_schedule(instance_id: str) -> Path:
    """Where beat keeps its schedule: in a directory of this user's that no one else may use
    (another user could otherwise plant a file or link at a fixed name in /tmp), one file per
    instance (two instances on one machine each have their beat)."""
    directory = Path(tempfile.gettempdir()) / f"lessonq-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ValueError(f"{directory} must be a directory that only this user can use")
    return directory / f"beat-schedule-{instance_id}"


def beat(args: argparse.Namespace) -> int:
    schedule = beat_schedule(load_settings().instance_id)
    return _exec([*CELERY, "beat", "--loglevel", "INFO", "--schedule", str(schedule), *args.extra])


def flower_auth(args: argparse.Namespace) -> dict[str, str]:
    """Flower's basic auth, passed in its environment (not on the command line, where `ps`
    shows it)."""
    settings = load_settings()
    if args.no_auth:
        # Flower refuses its API without credentials unless told otherwise.
        return {"FLOWER_UNAUTHENTICATED_API": "true"}
    if settings.flower_password is None:
        raise ValueError(
            "LESSONQ_FLOWER_PASSWORD is not set: Flower would be open to anyone who reaches it "
            "(give --no-auth to run it without a password anyway)"
        )
    password = settings.flower_password.get_secret_value()
    if "," in password or ":" in settings.flower_user:
        # Flower reads a comma-separated list of user:password pairs.
        raise ValueError("LESSONQ_FLOWER_PASSWORD must not contain ',' (nor the user ':')")
    return {FLOWER_AUTH_ENV: f"{settings.flower_user}:{password}"}


def flower(args: argparse.Namespace) -> int:
    env = flower_auth(args)
    if args.no_auth:
        print(
            f"lessonq flower: no authentication: anyone who reaches port {args.port} sees and "
            "controls the workers",
            file=sys.stderr,
        )
    command = [*CELERY, "flower", f"--address={args.address}", f"--port={args.port}"]
    return _exec([*command, *args.extra], env)


def intake(args: argparse.Namespace) -> int:
    from scheduler.intake import serve

    serve(load_settings(), args.host, args.port)
    return 0


def sim(args: argparse.Namespace) -> int:
    from kubesim.__main__ import main as kubesim_main

    return kubesim_main(args.extra)


def up(args: argparse.Namespace) -> int:
    from workers.demo import WebPorts, local_stack

    settings = load_settings()
    secret = settings.flower_password
    password = secret.get_secret_value() if secret else secrets.token_urlsafe(12)
    web = WebPorts(intake=args.intake_port, flower=args.flower_port, flower_password=password)
    with (
        tempfile.TemporaryDirectory(prefix="lessonq-up-") as workdir,
        local_stack(Path(workdir), settings.curriculum.resolve(), web=web) as stack,
    ):
        print(
            "lessonq is up (Ctrl-C stops everything):\n"
            f"  intake   http://127.0.0.1:{web.intake}  (OpenAPI: /docs)\n"
            f"  flower   http://127.0.0.1:{web.flower}  (user {settings.flower_user}, "
            f"password {password})\n"
            f"  redis    {stack.settings.redis_url}\n"
            f"  kubesim  {stack.env['LESSONQ_KUBE_URL']}\n"
            f"  logs     {workdir}\n"
            "In another shell, for the lessonq commands:\n"
            f"  export {stack.exports()}",
            flush=True,
        )
        return stack.supervise()
