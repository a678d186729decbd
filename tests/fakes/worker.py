"""A Celery worker in small: runs what the producer sent, through lessonq's own task logic.

Messages are taken from a `RecordingProducer` in the order they were sent; a run that asks to
run again (`RunAgain`) is due after its countdown, and the clock moves to it when nothing else
is due sooner. Each message goes to the function its Celery task wraps (`run_step`,
`run_teardown`, `fan_out`, `refill`, `hand_over`), so a whole lesson can be driven in milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from lessons.steps import Job, Step
from tasks.pools import hand_over, refill
from tasks.provision import run_step
from tasks.running import RunAgain
from tasks.runtime import Runtime
from tasks.teardown import fan_out, run_teardown
from tests.fakes.clock import FakeClock
from tests.fakes.producer import Message, RecordingProducer

PROVISION_PREFIX = "lessonq.provision."


def deliver(rt: Runtime, message: Message) -> RunAgain | None:
    """Run one message as the worker's task of that name would."""
    if message.task == Job.TEARDOWN:
        return run_teardown(rt, message.payload)
    if message.task == Job.TEARDOWN_MANY:
        fan_out(rt, list(message.kwargs["lesson_ids"]))
        return None
    if message.task == Job.POOL_REFILL:
        refill(rt)
        return None
    if message.task == Job.POOL_CLAIMED:
        return hand_over(rt, message.payload)
    if not message.task.startswith(PROVISION_PREFIX):
        raise ValueError(f"no task named {message.task!r}")
    step = Step(message.task.removeprefix(PROVISION_PREFIX))
    return run_step(rt, step, message.payload)


@dataclass
class FakeWorker:
    rt: Runtime
    clock: FakeClock
    producer: RecordingProducer
    # Called before each delivery: the rest of the world moving (the kubelet starting pods).
    between: Callable[[], None] | None = None
    # Every message run, in order.
    ran: list[Message] = field(default_factory=list)
    _due: list[tuple[float, int, Message]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def run(self, limit: int = 200) -> int:
        """Run until nothing is sent or due; how many messages ran."""
        for count in range(limit):
            self._collect()
            if not self._due:
                return count
            due, _, message = heapq.heappop(self._due)
            if due > self.clock.now():
                self.clock.advance(due - self.clock.now())
            if self.between is not None:
                self.between()
            self.ran.append(message)
            again = deliver(self.rt, message)
            if again is not None:
                retry = Message(message.task, again.payload.kwargs(), message.priority)
                self._push(self.clock.now() + again.countdown, retry)
        raise AssertionError(f"still busy after {limit} messages: {self.tasks()[-10:]}")

    def tasks(self) -> list[str]:
        return [message.task for message in self.ran]

    def _collect(self) -> None:
        for message in self.producer.take():
            self._push(self.clock.now(), message)

    def _push(self, due: float, message: Message) -> None:
        heapq.heappush(self._due, (due, next(self._order), message))
