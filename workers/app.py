"""The Celery application of the workers and beat: ``celery -A workers.app worker|beat``.

Delivery is at least once: a task is acknowledged after it ran (``acks_late``), a worker that
dies mid-task gives its message back (``reject_on_worker_lost``), each worker process holds one
message at a time (prefetch 1), and Redis hands an unacknowledged message to another worker only
after the visibility timeout, which the settings keep longer than any task may run.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from config.settings import Settings, current_settings
from jobs import messaging
from lessons.steps import Job
from workers import logs, metrics, prefork

TASK_MODULES = ["tasks.provision", "tasks.teardown", "tasks.gc", "tasks.pools"]


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """GC every LESSONQ_GC_INTERVAL seconds, the warm pools' refill every
    LESSONQ_POOL_REFILL_INTERVAL. A tick not started within one interval is dropped
    (`expires`): the next one does the same work, and late ticks would pile up."""
    every = settings.gc_interval
    refill = settings.pool_refill_interval
    return {
        "lessonq-pool-refill": {
            "task": Job.POOL_REFILL,
            "schedule": refill,
            "options": {"expires": refill},
        },
        "lessonq-gc": {"task": Job.GC, "schedule": every, "options": {"expires": every}},
        "lessonq-gc-orphans": {
            "task": Job.GC_ORPHANS,
            "schedule": every,
            "options": {"expires": every},
        },
    }


def create_app(settings: Settings) -> Celery:
    app = Celery("lessonq", include=TASK_MODULES)
    app.conf.update(messaging(settings))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=settings.task_time_limit * 0.9,
        # Celery's consumer, made to survive a Redis restart while tasks run (see the module).
        worker_consumer="workers.consumer:Consumer",
        # Flower shows tasks from the workers' events.
        worker_send_task_events=True,
        beat_schedule=beat_schedule(settings),
    )
    return app


app = create_app(current_settings())
# JSON logs, the metrics server and the warm-up before forking hook into the worker's and
# beat's own signals.
logs.install()
metrics.install()
prefork.install()
