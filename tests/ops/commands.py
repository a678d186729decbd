"""Checks that a container's command and environment name things that exist in lessonq."""

from __future__ import annotations

import re
from collections.abc import Mapping

from celery.bin.beat import beat as celery_beat
from celery.bin.worker import worker as celery_worker

from config.settings import ENV_PREFIX, Settings, load_settings
from kubesim.config import config_from_args
from scheduler.cli import build_parser
from workers.launch import build_parser as launcher_parser

# ${NAME:-default} and ${NAME:?message}: the default stands for the value.
_INTERPOLATION = re.compile(r"\$\{[A-Z_]+(?::?-([^}]*)|:?\?[^}]*)?\}")


def check_lessonq_command(args: list[str]) -> str:
    """`lessonq ARGS` parses, and what it passes on is understood by the worker side's
    launcher, Celery or kubesim; returns the command's name."""
    parsed, extra = build_parser().parse_known_args(args)  # exits (fails the test) if not
    assert not extra or parsed.passthrough, f"lessonq {args[0]} does not take {extra}"
    if parsed.command == "sim":
        config_from_args(extra)
    elif parsed.command in ("worker", "beat", "flower"):
        _, extra = launcher_parser().parse_known_args([parsed.command, *extra])
    if extra and parsed.command in ("worker", "beat"):
        command = {"worker": celery_worker, "beat": celery_beat}[parsed.command]
        known = {option for param in command.params for option in param.opts}
        unknown = [arg for arg in extra if arg.startswith("-") and arg.split("=")[0] not in known]
        assert not unknown, f"celery {parsed.command} has no option {unknown}"
    return str(parsed.command)


def resolve(value: str) -> str:
    return _INTERPOLATION.sub(lambda match: match.group(1) or "", value)


def check_settings(environment: Mapping[str, str]) -> Settings:
    """Every LESSONQ_* name is a setting, and the values are valid settings together."""
    values = {}
    for name, value in environment.items():
        if name.startswith(ENV_PREFIX):
            field = name.removeprefix(ENV_PREFIX).lower()
            assert field in Settings.model_fields, f"{name} is not a lessonq setting"
            values[field] = resolve(str(value))
    return load_settings(**values)
