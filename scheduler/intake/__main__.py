"""``python -m scheduler.intake [--host H] [--port P]``: the same command as ``lessonq intake``,
parsed by the same parser (one set of options and defaults)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from scheduler import cli


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(["intake", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
