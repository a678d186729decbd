"""Beat's schedule: GC and the pool refill by the names the pipeline declares, and late ticks
dropped."""

from __future__ import annotations

from config.settings import load_settings
from lessons.steps import Job
from workers.app import beat_schedule


def test_gc_runs_every_interval_and_a_tick_no_worker_took_in_time_is_dropped() -> None:
    schedule = beat_schedule(load_settings(gc_interval=7, pool_refill_interval=3))
    every = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    assert every == {Job.GC: 7, Job.GC_ORPHANS: 7, Job.POOL_REFILL: 3}
    for entry in schedule.values():
        # Two beats, or a slow tick, would otherwise pile ticks up behind each other.
        assert entry["options"] == {"expires": entry["schedule"]}
