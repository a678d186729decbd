"""JSON log lines (``LESSONQ_LOG_JSON``) in workers and beat, whose logging Celery sets up.

The signal handlers here give Celery's root and task handlers the JSON formatter once Celery
has made them.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from config.logs import JsonFormatter
from config.settings import current_settings


def _after_setup(logger: logging.Logger, **_: Any) -> None:
    if current_settings().log_json:
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())


def install() -> None:
    """Connect to Celery's logging signals."""
    signals.after_setup_logger.connect(_after_setup, weak=False)
    signals.after_setup_task_logger.connect(_after_setup, weak=False)
