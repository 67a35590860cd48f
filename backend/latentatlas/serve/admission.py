"""Bounded inference per model: how many requests may wait for (or run on) one model at once.
Beyond the bound a request is refused at once with :class:`OverloadedError` (503 with
Retry-After) instead of queueing without end, so one busy model cannot hold every worker thread.
The bound over all models together is the app's ``InferenceDoor``, which refuses before a
request waits for a thread; health checks run on the event loop and stay fast under any load."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from latentatlas.errors import OverloadedError

RETRY_AFTER_SECONDS = OverloadedError.retry_after_seconds


class FairLock:
    """A lock handed to its waiters in arrival order (a ticket lock). ``threading.Lock`` lets
    the thread that releases it take it straight back, so a large request decoding chunk after
    chunk would starve the requests waiting between its chunks."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._next_ticket = self._serving = 0

    def __enter__(self) -> None:
        with self._turn:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._turn.wait()

    def __exit__(self, *exc_info: object) -> None:
        with self._turn:
            self._serving += 1
            self._turn.notify_all()


class Admission:
    """Counts the requests admitted per model; ``slot`` admits one (or refuses it), then runs it
    under the model's lock (one inference at a time per model)."""

    def __init__(self, per_model: int) -> None:
        self.per_model = per_model
        self._counts: dict[str, int] = {}
        self._mutex = threading.Lock()

    def in_flight(self, key: str) -> int:
        with self._mutex:
            return self._counts.get(key, 0)

    @contextmanager
    def slot(self, key: str, lock: FairLock) -> Iterator[None]:
        with self._mutex:
            if self._counts.get(key, 0) >= self.per_model:
                raise OverloadedError(
                    f"model {key} is busy ({self.per_model} requests in flight, its limit): retry shortly"
                )
            self._counts[key] = self._counts.get(key, 0) + 1
        try:
            with lock:
                yield
        finally:
            with self._mutex:
                self._counts[key] -= 1
