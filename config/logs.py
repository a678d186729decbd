"""Log lines, plain or JSON (``LESSONQ_LOG_JSON``), for every lessonq process.

One JSON object per line: time, level, logger, message, process, and the fields a record carries
under `EXTRA_KEY` (``log.info(..., extra={EXTRA_KEY: fields})``: lesson, session, namespace,
step, outcome, duration...) at the top level, so a log pipeline can index them without parsing
the message. Celery sets up its own handlers in workers and beat (``workers.logs`` gives them
this formatter); processes that Celery does not start (the intake) call `configure`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings

EXTRA_KEY = "lessonq"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
        }
        fields = getattr(record, EXTRA_KEY, None)
        if isinstance(fields, dict):
            line.update({key: value for key, value in fields.items() if key not in line})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(settings: Settings, level: int = logging.INFO) -> None:
    """Logging for a process Celery does not set up: one handler on stderr, JSON if asked."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
