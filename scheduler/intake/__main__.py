"""``python -m scheduler.intake [--host H] [--port P]``: the intake on the LESSONQ_* settings."""

from __future__ import annotations

import argparse
import sys

from config.settings import SettingsError, load_settings
from scheduler.curriculum import LessonError
from scheduler.intake.app import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scheduler.intake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        serve(load_settings(), args.host, args.port)
    except (SettingsError, LessonError) as error:
        sys.exit(f"lessonq intake: {error}")


if __name__ == "__main__":
    main()
