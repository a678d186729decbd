"""The worker's broker consumer: Celery's, surviving a broker restart while tasks run.

When the connection to Redis breaks, Celery 5.7 first collects the connection (detaching its
transport), then closes it. With messages still unacknowledged (we ack late, so any task in
flight), kombu 5.7's Redis channel tries to restore them during that close through the detached
transport and raises AttributeError. The close only ignores connection errors, so the worker
dies with "Unrecoverable error" instead of reconnecting. Those messages are still in Redis's
unacked set (restored after the visibility timeout), and GC resumes their lessons in the
meantime; so the consumer goes on and reconnects.
"""

from __future__ import annotations

import logging

from celery.worker.consumer import Consumer as CeleryConsumer

log = logging.getLogger("lessonq.worker")


class Consumer(CeleryConsumer):  # type: ignore[misc]
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            log.warning(
                "broker connection lost with tasks in flight; their messages stay unacknowledged "
                "in Redis and are restored later; reconnecting",
                exc_info=True,
            )
