"""``python -m nodeagent`` (``lessonq node-agent``): the agent's options, logging and signals.

``--probe`` is the DaemonSet's liveness and readiness check: it only looks at the age of the
heartbeat file the running agent touches after each pass without errors, so a probe costs a
short Python start and no command on the node.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from config.clock import SYSTEM_CLOCK, Clock

INTERVAL = 5.0
GRACE = 300.0


def _seconds(minimum: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not value >= minimum:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, not {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessonq node-agent",
        description="On this node: make lessonq's bridges carry link-local frames, keep the node "
        "off lesson links and out of their conntrack, and delete the bridges left empty.",
    )
    parser.add_argument("--once", action="store_true", help="one pass, then exit (1 on errors)")
    parser.add_argument(
        "--interval",
        type=_seconds(0.1),
        default=INTERVAL,
        help=f"seconds between passes (default {INTERVAL:g})",
    )
    parser.add_argument(
        "--grace",
        type=_seconds(0),
        default=GRACE,
        help=f"seconds a bridge stays empty before it is deleted (default {GRACE:g})",
    )
    parser.add_argument(
        "--state",
        type=Path,
        help="file keeping when each bridge was first seen empty, across restarts and --once runs",
    )
    parser.add_argument(
        "--tunnels",
        type=Path,
        metavar="FILE",
        help="JSON file of the VXLAN tunnels this node should have, read every pass: the "
        "node's tunnel ports and their allow-list are made to match it (without it, tunnels "
        "are left alone)",
    )
    parser.add_argument(
        "--overlay",
        action="store_true",
        help="read the tunnels this node should have from the cluster (the lesson pods, their "
        "overlay NetworkAttachmentDefinitions, the nodes' InternalIPs), and set the "
        "lessonq.io/links-wired readiness gate of the pods here once their links are wired; "
        "with the in-cluster credentials (or LESSONQ_KUBECONFIG). The default when "
        "LESSONQ_LINKS=overlay",
    )
    parser.add_argument(
        "--node-name",
        default=os.environ.get("NODE_NAME"),
        help="this node's name, with --overlay (default: $NODE_NAME, from the downward API)",
    )
    parser.add_argument(
        "--heartbeat", type=Path, help="file touched after each pass without errors"
    )
    parser.add_argument(
        "--probe",
        type=_seconds(0),
        metavar="MAX_AGE",
        help="exit 0 if the heartbeat file is at most MAX_AGE seconds old, else 1; no pass",
    )
    return parser


def probe(heartbeat: Path, max_age: float, clock: Clock = SYSTEM_CLOCK) -> int:
    try:
        age = clock.now() - heartbeat.stat().st_mtime
    except OSError as error:
        print(f"lessonq node-agent: no heartbeat: {error}", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"lessonq node-agent: last clean pass {age:.0f}s ago", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.probe is not None:
        if args.heartbeat is None:
            parser.error("--probe needs --heartbeat")
        sys.exit(probe(args.heartbeat, args.probe))

    # The rest only where it runs passes: a probe stays a short start.
    from config.logs import configure
    from config.settings import SettingsError, load_settings
    from nodeagent.agent import Agent, FileSource, TunnelSource, one_pass, run
    from nodeagent.linux import LinuxHost

    try:
        settings = load_settings()
        configure(settings)  # LESSONQ_LOG_JSON, as every lessonq process
    except SettingsError as error:
        print(f"lessonq node-agent: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(1)
    overlay = args.overlay or (settings.links == "overlay" and args.tunnels is None)
    if overlay and (args.tunnels is not None or not args.node_name):
        parser.error("--overlay needs --node-name (or NODE_NAME), and no --tunnels")
    agent = Agent(LinuxHost(), grace=args.grace, state=args.state)
    source: TunnelSource | None = FileSource(args.tunnels) if args.tunnels else None
    if overlay:
        from kube import Kube
        from nodeagent.cluster import ClusterLinks

        source = ClusterLinks(Kube.from_settings(settings), args.node_name)
    if args.once:
        sys.exit(1 if one_pass(agent, args.heartbeat, source).errors else 0)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run(agent, args.interval, stop, args.heartbeat, source)
