"""Log lines as JSON (``LESSONQ_LOG_JSON``) for workers, beat and the intake.

One JSON object per line: time, level, logger, message, process, and the ``lessonq`` fields a
step transition carries (lesson, session, namespace, step, outcome, duration...) at the top
level, so a log pipeline can index them without parsing the message.

Celery sets up its own handlers in every worker and beat; the signal handlers here swap their
formatters once it has. Processes that Celery does not start (the intake) call ``configure``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from celery import signals

from config.settings import Settings, current_settings
from scheduler.logfields import EXTRA_KEY


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


def use_json(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


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


def _after_setup(logger: logging.Logger, **_: Any) -> None:
    if current_settings().log_json:
        use_json(logger)


def install() -> None:
    """Connect to Celery's logging signals: its root and task loggers get the JSON formatter."""
    signals.after_setup_logger.connect(_after_setup, weak=False)
    signals.after_setup_task_logger.connect(_after_setup, weak=False)
