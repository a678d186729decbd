"""What the `lessonq` command prints: records, tables, and the live progress of a lesson."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from lessons.plan import LessonPlan
from lessons.pool import PoolStatus
from lessons.state import LessonRecord, StepStatus
from lessons.steps import Step
from scheduler.api_models import Catalog, EndpointAccess, GuideAccess

# Erase the terminal line and go back to its start: the progress line is redrawn in place.
REDRAW = "\r\x1b[K"


def when(timestamp: float | None) -> str:
    """A time as the API gives it, RFC 3339 in UTC (to the second): 2026-11-27T18:06:09Z."""
    if not timestamp:
        return "-"
    return (
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def session_of(record: LessonRecord) -> str:
    """The session, or that the lesson waits in its warm pool for one."""
    return "(pool)" if record.session_id is None else record.session_id


def origin(record: LessonRecord) -> str:
    """How the lesson came to its session: provisioned for it, or claimed from a warm pool."""
    if not record.pooled:
        return "provisioned for the session"
    if record.claimed_at is None:
        return "warm pool, not claimed yet"
    return f"warm pool, claimed {when(record.claimed_at)}"


def steps_done(record: LessonRecord) -> int:
    return sum(1 for step in Step if record.step_done(step))


def status_lines(record: LessonRecord, plan: LessonPlan | None) -> list[str]:
    """`lessonq status`: the record, then once READY each endpoint's service and ports, its
    presentations (the ssh logins too: the command line is the operator's, with Redis at hand)
    and the Jupyter guide."""
    done = f"{steps_done(record)}/{len(Step)}"
    durations = ", ".join(
        f"{step.value} {rec.seconds:.2f}s"
        for step, rec in record.steps.items()
        if rec.status is StepStatus.DONE and rec.seconds is not None
    )
    rows = [
        ("id", record.id),
        ("lesson", record.lesson),
        ("session", session_of(record)),
        ("origin", origin(record)),
        ("state", record.state.value),
        ("namespace", record.namespace),
        ("step", record.current_step or "-"),
        ("endpoints", f"{record.healthy}/{record.total} healthy"),
        ("stage", f"{record.stage}, {record.configured}/{record.configurable} configured"),
        ("steps done", f"{done} ({durations})" if durations else done),
        ("error", record.error or "-"),
        ("created", when(record.created_at)),
        ("ready", when(record.ready_at)),
        ("expires", "never" if record.expires_at is None else when(record.expires_at)),
    ]
    if record.teardown_error is not None:
        rows.append(("teardown", record.teardown_error))
    diagnostics = record.diagnostics
    if diagnostics is not None:
        for pod in diagnostics.pods:
            rows.append(("pod", f"{pod.pod}: {pod.phase or '-'}, {pod.waiting or '-'}"))
            rows += [("  event", text) for text in pod.events]
            rows += [("  log", line) for line in (pod.log or "").splitlines()]
        if diagnostics.note is not None:
            rows.append(("diagnosis", diagnostics.note))
    lines = [f"{name:<11} {value}" for name, value in rows]
    if plan is None:
        return lines
    for endpoint in plan.endpoints:
        access = EndpointAccess.of(endpoint, plan, credentials=True)
        ports = ", ".join(f"{port.name} {port.port}" for port in access.ports) or "no ports"
        lines.append(f"{'service':<11} {endpoint.name}.{record.namespace}: {ports}")
        for shown in access.presentations:
            where = shown.url or f"{shown.host}:{shown.port}"
            login = f", user {shown.ssh_user}" if shown.ssh_user is not None else ""
            login += f", password {shown.ssh_password}" if shown.ssh_password is not None else ""
            lines.append(f"  {shown.type.value:<9} {shown.name}: {where}{login}")
    guide = GuideAccess.of(plan)
    if guide is not None:
        where = guide.url or f"{guide.host}:{guide.port}"
        lines.append(f"{'guide':<11} {guide.type.value}: {where}")
    return lines


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def table(records: Sequence[LessonRecord]) -> list[str]:
    """`lessonq list`: one line per lesson."""
    header = ("ID", "LESSON", "SESSION", "STATE", "ENDPOINTS", "NAMESPACE")
    return _columns(
        [header]
        + [
            (r.id, r.lesson, session_of(r), r.state.value, f"{r.healthy}/{r.total}", r.namespace)
            for r in records
        ]
    )


def pool_table(pools: Sequence[PoolStatus]) -> list[str]:
    """`lessonq pool`: one line per warm pool."""
    header = ("LESSON", "SIZE", "READY", "PROVISIONING", "CLAIMS", "MISSES", "REFILL (AVG)")
    rows: list[tuple[str, ...]] = [header]
    for pool in pools:
        average = f"{pool.refill_seconds / pool.refills:.1f}s" if pool.refills else "-"
        numbers = (pool.size, pool.ready, pool.provisioning, pool.claims, pool.misses)
        rows.append((pool.slug, *map(str, numbers), average))
    return _columns(rows)


def plural(count: int, what: str) -> str:
    """`1 lesson`, `2 lessons`."""
    return f"{count} {what}{'s' if count != 1 else ''}"


def catalog_lines(catalog: Catalog, root: Path) -> list[str]:
    """`lessonq catalog`: a line per lesson served, then one per problem of those left out."""
    header = ("SLUG", "TIER", "ENDPOINTS", "STAGES", "NAME")
    rows = [
        (c.slug, c.tier.value, str(c.endpoint_count), str(c.stage_count), c.name)
        for c in catalog.lessons
    ]
    lines = _columns([header, *rows]) if rows else [f"no lessons served from {root}"]
    if catalog.problems:
        left_out = len({problem.slug for problem in catalog.problems})
        lessons = plural(left_out, "lesson")
        lines += ["", f"left out for their problems, {lessons} (files under {root}):"]
        lines += [f"{p.slug}: {p.file}:{p.field}: {p.message}" for p in catalog.problems]
    return lines


class Progress:
    """The `on_progress` of `LessonClient.wait`: a line redrawn in place on a terminal, else
    one plain line per change (for logs and pipes)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._live = out.isatty()
        self._started = time.monotonic()

    def line(self, record: LessonRecord) -> str:
        done = steps_done(record)
        elapsed = time.monotonic() - self._started
        if self._live:
            bar = "#" * done + "." * (len(Step) - done)
            return (
                f"{record.state.value:<13} [{bar}] {done}/{len(Step)} steps"
                f"  {record.current_step or '-':<18} endpoints {record.healthy}/{record.total}"
                f"  configured {record.configured}/{record.configurable}  {elapsed:5.1f}s"
            )
        return (
            f"{elapsed:6.2f}s {record.state.value} steps {done}/{len(Step)}"
            f" step {record.current_step or '-'} endpoints {record.healthy}/{record.total}"
            f" configured {record.configured}/{record.configurable}"
        )

    def __call__(self, record: LessonRecord) -> None:
        if self._live:
            self._out.write(REDRAW + self.line(record))
        else:
            self._out.write(self.line(record) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._live:
            self._out.write("\n")
            self._out.flush()
