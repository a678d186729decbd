"""`lessonq`: run the services, and ask for, watch and remove lessons from the command line.

All parsing of lessonq's own commands is here (worker, beat, flower, node-agent, sim and up
hand the rest of the command line to the program they become); each command is a small
function of the parsed arguments returning the exit status. Errors are one line on stderr (no
traceback) and a non-zero exit: 1 for a failure, 2 for bad usage (argparse's), 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence, Sized
from pathlib import Path
from typing import TYPE_CHECKING

import redis
import yaml
from kombu.exceptions import OperationalError as BrokerError
from pydantic import ValidationError

from config.settings import Settings, SettingsError, load_settings
from lessons.curriculum import LessonError, Limits, Problem, check_lesson_file, load_curriculum
from lessons.state import REACHABLE, LessonState
from lessons.steps import Desired, all_manifests
from registry import AdmissionRefused, LessonNotFound, StageConflict, connect_failing_fast
from scheduler import cli_serve, cli_show
from scheduler.api_models import Catalog
from scheduler.client import LessonClient

Command = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A failure worth one line on stderr."""


def connect(settings: Settings) -> LessonClient:
    """A client, once Redis answers: the registry's own client would retry for half a minute."""
    probe = connect_failing_fast(settings.redis_url, 2)
    try:
        probe.ping()
    except redis.RedisError as error:
        where = cli_serve.safe_url(settings.redis_url)
        raise CliError(f"cannot reach Redis at {where}: {error}") from None
    finally:
        probe.close()
    return LessonClient(settings)


def print_record(client: LessonClient, lesson_id: str, as_json: bool) -> LessonState:
    record = client.status(lesson_id)
    if as_json:
        print(record.model_dump_json())
    else:
        plan = client.registry.plan(lesson_id) if record.state in REACHABLE else None
        print("\n".join(cli_show.status_lines(record, plan)))
    return record.state


def wait_for(client: LessonClient, lesson_id: str, timeout: float) -> LessonState:
    progress = cli_show.Progress(sys.stdout)
    try:
        return client.wait(lesson_id, timeout=timeout, on_progress=progress).state
    finally:
        progress.close()


def _until_ready(client: LessonClient, lesson_id: str, args: argparse.Namespace) -> int:
    """`--wait`: follow the lesson until it settles, then show it; 0 when it is READY."""
    state = wait_for(client, lesson_id, args.timeout)
    print_record(client, lesson_id, as_json=False)
    return 0 if state is LessonState.READY else 1


# --- commands on lessons ---------------------------------------------------------------------


def create(args: argparse.Namespace) -> int:
    client = connect(load_settings())
    record = client.create(args.lesson, args.session, args.stage)
    print(
        f"lesson {record.id}: {record.lesson} for session {record.session_id}, "
        f"namespace {record.namespace}, stage {record.stage}, {record.state.value}"
        + (" (from the warm pool)" if record.pooled else "")
    )
    return _until_ready(client, record.id, args) if args.wait else 0


def status(args: argparse.Namespace) -> int:
    print_record(connect(load_settings()), args.id, args.json)
    return 0


def list_lessons(args: argparse.Namespace) -> int:
    records = connect(load_settings()).list(args.session)
    if args.json:
        print("[" + ",".join(record.model_dump_json() for record in records) + "]")
    elif records:
        print("\n".join(cli_show.table(records)))
    else:
        print("no live lessons" + (f" for session {args.session}" if args.session else ""))
    return 0


def keepalive(args: argparse.Namespace) -> int:
    record = connect(load_settings()).keepalive(args.id)
    expires = "never" if record.expires_at is None else cli_show.when(record.expires_at)
    print(f"lesson {record.id}: {record.state.value}, expires {expires}")
    return 0


def _pool_sizes(assignments: list[str]) -> dict[str, int]:
    sizes = {}
    for assignment in assignments:
        slug, equals, size = assignment.partition("=")
        if not equals or not slug or not size.isdigit():
            raise CliError(f"{assignment!r} is not SLUG=SIZE (for example linux-basics=3)")
        sizes[slug] = int(size)
    return sizes


def pool(args: argparse.Namespace) -> int:
    client = connect(load_settings())
    sizes = _pool_sizes(args.sizes)
    pools = client.set_pools(sizes) if sizes else client.pools()
    if args.json:
        print("[" + ",".join(status.model_dump_json() for status in pools) + "]")
    elif pools:
        print("\n".join(cli_show.pool_table(pools)))
    else:
        print("no warm pools (LESSONQ_WARM_POOL, or: lessonq pool SLUG=SIZE)")
    return 0


def stage(args: argparse.Namespace) -> int:
    client = connect(load_settings())
    record = client.set_stage(args.id, args.stage)
    print(f"lesson {record.id}: {record.state.value}, stage {record.stage}")
    return _until_ready(client, record.id, args) if args.wait else 0


def teardown(args: argparse.Namespace) -> int:
    client = connect(load_settings())
    record = client.teardown(args.id)
    print(f"lesson {record.id}: {record.state.value}")
    if not args.wait:
        return 0
    state = wait_for(client, record.id, args.timeout)
    print(f"lesson {record.id}: {state.value}")
    return 0 if state is LessonState.GONE else 1


# --- commands on curricula -------------------------------------------------------------------


def _count(items: Sized, what: str) -> str:
    return cli_show.plural(len(items), what)


def _checked(path: Path, settings: Settings) -> tuple[str, list[Problem], list[Problem]]:
    """What `validate` found: a summary, the problems and the warnings."""
    limits = Limits.from_settings(settings)
    if path.is_dir():
        curriculum = load_curriculum(path, limits)
        summary = f"{_count(curriculum.lessons, 'lesson')} and {_count(curriculum.images, 'image')}"
        return summary, curriculum.problems, curriculum.warnings
    images = load_curriculum(settings.curriculum, limits).images
    check = check_lesson_file(path, images, limits)
    lesson = check.lesson
    summary = f"lesson {lesson.slug} with {len(lesson.endpoints)} endpoints" if lesson else ""
    return summary, check.problems, check.warnings


def validate(args: argparse.Namespace) -> int:
    """Every problem as file:field: message, then every warning (files left out of a lesson's
    folder, which change nothing of the exit status); a lesson file is checked against the
    images of the configured curriculum. Strict: every lesson, whatever its tier."""
    path: Path = args.path
    if not path.exists():
        raise CliError(f"{path}: no such file or folder")
    try:
        summary, problems, warnings = _checked(path, load_settings())
    except LessonError as error:  # no curriculum there at all
        summary, problems, warnings = "", error.problems, []
    for problem in problems:
        print(problem)
    for warning in warnings:
        print(f"warning: {warning}")
    if problems:
        print(f"{_count(problems, 'problem')} in {path}", file=sys.stderr)
        return 1
    noted = f" ({_count(warnings, 'warning')})" if warnings else ""
    print(f"{path}: {summary}, no problems{noted}")
    return 0


def catalog(args: argparse.Namespace) -> int:
    """The lessons this instance serves (LESSONQ_CURRICULUM, LESSONQ_TIER), as GET /v1/catalog
    answers them, and the problems of those left out."""
    curriculum = LessonClient(load_settings()).curriculum
    answer = Catalog.of(curriculum)
    if args.json:
        print(answer.model_dump_json())
    else:
        print("\n".join(cli_show.catalog_lines(answer, curriculum.root)))
    return 0


def render(args: argparse.Namespace) -> int:
    """The lesson's manifests as YAML documents, for `kubectl apply -f -`."""
    client = LessonClient(load_settings())
    plan, files = client.prepare(args.lesson, args.session, args.lesson_id)
    documents = all_manifests(Desired(plan, files=lambda: files))
    print(yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True), end="")
    return 0


# --- parsing ---------------------------------------------------------------------------------


if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def _adder(commands: Commands) -> Callable[..., argparse.ArgumentParser]:
    def add(
        name: str, func: Command, help_text: str, passthrough: bool = False
    ) -> argparse.ArgumentParser:
        # A command that hands over to another program leaves every option, --help included,
        # to that program's parser.
        parser = commands.add_parser(
            name, help=help_text, description=help_text, add_help=not passthrough
        )
        parser.set_defaults(func=func, passthrough=passthrough)
        return parser

    return add


def _service_commands(commands: Commands) -> None:
    add = _adder(commands)
    add("worker", cli_serve.worker_side, "run a Celery worker", passthrough=True)
    add(
        "beat",
        cli_serve.worker_side,
        "run Celery beat (GC); exactly one per instance",
        passthrough=True,
    )
    add("flower", cli_serve.worker_side, "run Flower, the Celery dashboard", passthrough=True)
    add(
        "node-agent",
        cli_serve.node_agent,
        "run the node agent on this node, as root (one per node: deploy/node-agent.yaml)",
        passthrough=True,
    )
    parser = add("intake", cli_serve.intake, "run the HTTP intake")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000)
    add(
        "sim",
        cli_serve.sim,
        "run kubesim, the Kubernetes API emulator (development)",
        passthrough=True,
    )
    add(
        "up",
        cli_serve.up,
        "the whole stack on this machine, on kubesim (development)",
        passthrough=True,
    )


def _lesson_commands(commands: Commands) -> None:
    add = _adder(commands)
    parser = add("create", create, "ask for a lesson for a session")
    parser.add_argument("lesson", help="curriculum slug, or a path to a lesson.meta.yaml")
    parser.add_argument("--session", required=True, help="the learner's session id")
    parser.add_argument("--stage", type=int, default=0, help="configure the devices for it")
    parser.add_argument("--wait", action="store_true", help="show progress until it settles")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait at most")
    parser = add("status", status, "show one lesson")
    parser.add_argument("id")
    parser.add_argument("--json", action="store_true", help="the record as JSON")
    parser = add("list", list_lessons, "list live lessons")
    parser.add_argument("--session", help="only this session's")
    parser.add_argument("--json", action="store_true", help="the records as a JSON list")
    add("keepalive", keepalive, "reset a lesson's idle clock").add_argument("id")
    parser = add("stage", stage, "move a READY lesson to a stage (its own: configure it afresh)")
    parser.add_argument("id")
    parser.add_argument("stage", type=int)
    parser.add_argument("--wait", action="store_true", help="show progress until it settles")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait at most")
    parser = add("teardown", teardown, "remove a lesson and its namespace")
    parser.add_argument("id")
    parser.add_argument("--wait", action="store_true", help="wait until it is GONE")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait at most")
    parser = add("pool", pool, "show the warm pools, or set their sizes")
    parser.add_argument(
        "sizes", nargs="*", metavar="SLUG=SIZE", help="set these pools' sizes (0 empties one)"
    )
    parser.add_argument("--json", action="store_true", help="as GET /v1/pools answers")
    parser = add("validate", validate, "check a curriculum folder or a lesson file")
    parser.add_argument("path", type=Path)
    parser = add(
        "catalog", catalog, "list the curriculum's lessons served, and those left out and why"
    )
    parser.add_argument("--json", action="store_true", help="as GET /v1/catalog answers")
    parser = add("render", render, "print a lesson's Kubernetes manifests as YAML")
    parser.add_argument("lesson", help="curriculum slug, or a path to a lesson.meta.yaml")
    parser.add_argument("--session", required=True, help="the learner's session id")
    parser.add_argument("--lesson-id", help="the lesson id to name (default: a new one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessonq",
        description="Network-device lessons on Kubernetes. Settings come from LESSONQ_* "
        "environment variables (or a .env file).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _service_commands(commands)
    _lesson_commands(commands)
    return parser


def describe(error: BaseException) -> str | None:
    """The line to show for an expected failure; None for a bug (shown with a traceback)."""
    if isinstance(error, LessonError):
        return str(error)  # one line per problem, each file:field: message
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors()
        )
    if isinstance(error, StageConflict):
        return str(error)
    if isinstance(error, AdmissionRefused):
        return f"{error} (try again in {error.retry_after:g}s)"
    if isinstance(error, BrokerError):
        # Redis answered the ping, then the publish of a task failed (kombu's own retries
        # included): Redis went away in between, or refuses the broker's commands.
        return "cannot send the task to the broker: " + " ".join(str(error).split())
    expected = (
        CliError,
        cli_serve.NotInstalled,
        SettingsError,
        LessonNotFound,
        TimeoutError,
        OSError,
        ValueError,
    )
    if isinstance(error, (*expected, redis.RedisError)):
        return " ".join(str(error).split())
    return None


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # The reader went away (`lessonq render ... | head`): drop what is still buffered.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except Exception as error:
        message = describe(error)
        if message is None:
            raise
        print(f"lessonq {args.command}: {message}", file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
