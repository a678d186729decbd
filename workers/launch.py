"""Starting a worker, beat or Flower: ``python -m workers worker|beat|flower [options]``, which
``lessonq worker|beat|flower`` run.

Each checks the settings first (a bad one is one line, not a traceback from inside Celery),
prepares what the process needs in its environment, then becomes ``celery -A workers.app ...``
(exec: the process is Celery's, for signals and exit codes). Any other option goes to Celery.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from config.settings import load_settings
from workers import metrics

CELERY = [sys.executable, "-m", "celery", "-A", "workers.app"]
FLOWER_AUTH_ENV = "FLOWER_BASIC_AUTH"


def _exec(command: list[str], env: dict[str, str] | None = None) -> NoReturn:
    sys.stdout.flush()
    os.execvpe(command[0], command, {**os.environ, **(env or {})})


def worker(args: argparse.Namespace, extra: list[str]) -> NoReturn:
    # prometheus_client must find its multiprocess directory when Celery first imports it.
    env = metrics.environment(load_settings())
    _exec([*CELERY, "worker", "--loglevel", "INFO", *extra], env)


def beat_schedule_file(instance_id: str) -> Path:
    """Where beat keeps its schedule: in a directory of this user's that no one else may use
    (another user could otherwise plant a file or link at a fixed name in /tmp), one file per
    instance (two instances on one machine each have their beat)."""
    directory = Path(tempfile.gettempdir()) / f"lessonq-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ValueError(f"{directory} must be a directory that only this user can use")
    return directory / f"beat-schedule-{instance_id}"


def beat(args: argparse.Namespace, extra: list[str]) -> NoReturn:
    schedule = beat_schedule_file(load_settings().instance_id)
    _exec([*CELERY, "beat", "--loglevel", "INFO", "--schedule", str(schedule), *extra])


def flower_auth(no_auth: bool) -> dict[str, str]:
    """Flower's basic auth, passed in its environment (not on the command line, where `ps`
    shows it)."""
    settings = load_settings()
    if no_auth:
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


def flower(args: argparse.Namespace, extra: list[str]) -> NoReturn:
    env = flower_auth(args.no_auth)
    if args.no_auth:
        print(
            f"lessonq flower: no authentication: anyone who reaches port {args.port} sees and "
            "controls the workers",
            file=sys.stderr,
        )
    command = [*CELERY, "flower", f"--address={args.address}", f"--port={args.port}"]
    _exec([*command, *extra], env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessonq", description="Run a worker, beat or Flower (other options go to Celery)."
    )
    roles = parser.add_subparsers(dest="role", required=True, metavar="ROLE")
    roles.add_parser("worker", help="a Celery worker").set_defaults(run=worker)
    roles.add_parser("beat", help="Celery beat (GC); exactly one per instance").set_defaults(
        run=beat
    )
    flower_parser = roles.add_parser("flower", help="Flower, the Celery dashboard")
    flower_parser.set_defaults(run=flower)
    flower_parser.add_argument("--address", default="0.0.0.0", help="address to listen on")
    flower_parser.add_argument("--port", type=int, default=5555)
    flower_parser.add_argument(
        "--no-auth", action="store_true", help="no basic auth (LESSONQ_FLOWER_PASSWORD unset)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args, extra = build_parser().parse_known_args(argv)
    try:
        args.run(args, extra)
    except ValueError as error:  # SettingsError too: one line, no traceback
        print(f"lessonq {args.role}: {error}", file=sys.stderr)
        sys.exit(1)
