"""The Celery application: ``celery -A workers.app worker`` and ``celery -A workers.app beat``.

Delivery is at least once: a task is acknowledged after it ran (``acks_late``), a worker that
dies mid-task gives its message back (``reject_on_worker_lost``), each worker process holds one
message at a time (prefetch 1), and Redis hands an unacknowledged message to another worker only
after the visibility timeout, which the settings keep longer than any task may run.
"""

from __future__ import annotations

from celery import Celery

from config.settings import Settings, current_settings
from workers import logs, metrics

TASK_MODULES = ["tasks.provision", "tasks.teardown", "tasks.gc"]


def create_app(settings: Settings) -> Celery:
    app = Celery("lessonq", broker=settings.redis_url, include=TASK_MODULES)
    app.conf.update(
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=settings.task_time_limit * 0.9,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=True,
        # Celery's consumer, made to survive a Redis restart while tasks run (see the module).
        worker_consumer="workers.consumer:Consumer",
        # Flower shows tasks from the workers' events. No "task-sent" events: each would cost
        # every enqueue a second publish, and Flower does not need them.
        worker_send_task_events=True,
        task_send_sent_event=False,
        beat_schedule={
            "lessonq-gc": {"task": "lessonq.gc", "schedule": settings.gc_interval},
            "lessonq-gc-orphans": {
                "task": "lessonq.gc.orphans",
                "schedule": settings.gc_interval,
            },
        },
    )
    return app


app = create_app(current_settings())
# JSON logs and the metrics server hook into the worker's and beat's own signals.
logs.install()
metrics.install()
