"""Running the `lessonq` console script as a user would: a subprocess, its output and status."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# The console script pip installed next to this interpreter ([project.scripts] in pyproject).
LESSONQ = Path(sys.executable).parent / "lessonq"


def lessonq(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    assert LESSONQ.exists(), f"{LESSONQ} is missing: pip install -e . installs it"
    return subprocess.run(
        [str(LESSONQ), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], words: str) -> None:
    """A failure reads as one line on stderr naming the problem: no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
