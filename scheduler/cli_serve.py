"""The `lessonq` commands that run a service: intake here; worker, beat and flower as
``python -m workers``; node-agent as ``python -m nodeagent``; sim and up as the development
tools ``python -m kubesim`` and ``python -m devstack``.

The intake side never imports the worker side, the node agent or the development tools: those
commands become the other program (exec), which parses the rest of the command line.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

from config.settings import load_settings


class NotInstalled(Exception):
    """A development tool that this installation does not have."""


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _become(module: str, args: list[str]) -> NoReturn:
    """Exec `python -m module args...` in this process."""
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *args])


def worker_side(args: argparse.Namespace) -> int:
    """lessonq worker|beat|flower: the worker side's own launcher."""
    _become("workers", [args.command, *args.extra])


def node_agent(args: argparse.Namespace) -> int:
    """lessonq node-agent: the agent that runs on each node (``deploy/node-agent.yaml``)."""
    _become("nodeagent", args.extra)


def _development_tool(module: str, args: list[str]) -> NoReturn:
    if importlib.util.find_spec(module) is None:
        raise NotInstalled(
            f"{module} is a development tool and is not installed here: from a clone of "
            "lessonq, `make demo` or `pip install -e ./kubesim -e ./devstack` installs it"
        )
    _become(module, args)


def sim(args: argparse.Namespace) -> int:
    _development_tool("kubesim", args.extra)


def up(args: argparse.Namespace) -> int:
    _development_tool("devstack", ["up", *args.extra])


def intake(args: argparse.Namespace) -> int:
    from scheduler.intake import serve

    serve(load_settings(), args.host, args.port)
    return 0
