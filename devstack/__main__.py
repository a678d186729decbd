"""``python -m devstack up|demo``: the development stack (``lessonq up`` runs `up`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from config.settings import SettingsError
from devstack import demo
from devstack.up import up


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lessonq", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stack = commands.add_parser(
        "up", help="the whole stack on this machine, on kubesim, until Ctrl-C"
    )
    stack.add_argument("--intake-port", type=int, default=8000)
    stack.add_argument("--flower-port", type=int, default=5555)
    show = commands.add_parser("demo", help=demo.__doc__.splitlines()[0] if demo.__doc__ else "")
    show.add_argument("--lesson", default="snapshot-testing")
    show.add_argument("--session", default="demo-session")
    show.add_argument("--curriculum", type=Path, default=Path("examples/curriculum"))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            sys.exit(up(args.intake_port, args.flower_port))
        sys.exit(demo.run(args.lesson, args.session, args.curriculum.resolve()))
    except (SettingsError, OSError, TimeoutError, RuntimeError) as error:
        print(f"lessonq {args.command}: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
