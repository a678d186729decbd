"""A no-op task on lessonq's Celery configuration, to measure one queue hop.

`celery -A bench.hop worker -Q bench-hop` runs it; `measure_hop` sends it and reads back how
long each message took from send to the start of the task.
"""

from __future__ import annotations

import statistics
import time

import redis

from config.settings import Settings, current_settings
from jobs import sending_app
from workers.app import create_app

QUEUE = "bench-hop"
RESULTS = "bench:hop"

app = create_app(current_settings())


@app.task(name="bench.hop", ignore_result=True)  # type: ignore[untyped-decorator]
def hop(sent_at: float) -> None:
    started = time.time()
    redis.Redis.from_url(app.conf.broker_url).rpush(RESULTS, started - sent_at)


def measure_hop(settings: Settings, count: int = 30, warmup: int = 5) -> float:
    """Median seconds from send_task to the task starting, one message at a time."""
    sender = sending_app(settings)
    client = redis.Redis.from_url(settings.redis_url)
    client.delete(RESULTS)
    samples = []
    for index in range(warmup + count):
        sender.send_task("bench.hop", args=[time.time()], queue=QUEUE)
        reply = client.blpop([RESULTS], timeout=30)
        if reply is None:
            raise RuntimeError("the hop worker did not run the task within 30 s")
        if index >= warmup:
            samples.append(float(reply[1]))
    return statistics.median(samples)
