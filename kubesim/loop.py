"""The single thread on which the simulated cluster's controllers run: store changes and timers."""

from __future__ import annotations

import heapq
import itertools
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from kubesim.store import Change

Handler = Callable[[Change], None]


class Controller(Protocol):
    def on_change(self, change: Change) -> None: ...

    def clear(self) -> None:
        """Forget all state (on reset)."""


_WAKE = None


class Loop:
    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[Change | None] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timers_lock = threading.Lock()
        self._seq = itertools.count()
        self._handlers: list[Handler] = []
        self._busy = threading.Lock()  # held while a change or a timer is being handled
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubesim-controllers", daemon=True)

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def notify(self, change: Change) -> None:
        """Store listener: runs under the store lock, so it only enqueues."""
        self._inbox.put(change)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        with self._timers_lock:
            heapq.heappush(
                self._timers, (time.monotonic() + max(delay, 0.0), next(self._seq), callback)
            )
        self._inbox.put(_WAKE)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing is handled meanwhile: a handler under way finishes first, the next waits."""
        with self._busy:
            yield

    def clear(self) -> None:
        """Forget pending timers and changes (on reset, while paused)."""
        with self._timers_lock:
            self._timers.clear()
        while True:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                break

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._inbox.put(_WAKE)
        self._thread.join(timeout=5)

    def _next_timeout(self) -> float:
        with self._timers_lock:
            if not self._timers:
                return 0.5
            return max(self._timers[0][0] - time.monotonic(), 0.0)

    def _due(self) -> list[Callable[[], None]]:
        now = time.monotonic()
        due = []
        with self._timers_lock:
            while self._timers and self._timers[0][0] <= now:
                due.append(heapq.heappop(self._timers)[2])
        return due

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                item = self._inbox.get(timeout=self._next_timeout())
            except queue.Empty:
                item = _WAKE
            with self._busy:
                if item is not _WAKE:
                    for handler in self._handlers:
                        self._guard(handler, item)
                for callback in self._due():
                    self._guard(callback)

    @staticmethod
    def _guard(function: Callable[..., None], *args: object) -> None:
        """A controller bug must not stop the cluster; it is reported and the loop goes on."""
        try:
            function(*args)
        except Exception:
            traceback.print_exc(file=sys.stderr)
