"""Bounded inference: how many requests may wait for (or run on) one model and all models at
once. Beyond either bound a request is refused at once with :class:`OverloadedError` (503 with
Retry-After) instead of queueing without end, so the server keeps answering everyone, and health
checks (served on the event loop, outside the inference threads) stay fast under any load."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

RETRY_AFTER_SECONDS = 1


class OverloadedError(RuntimeError):
    """Too many requests are waiting for inference; the message says which bound was hit."""


class Admission:
    """Counts the requests admitted per model and in all; ``slot`` admits one, then runs it
    under the model's lock (one inference at a time per model)."""

    def __init__(self, per_model: int, total: int) -> None:
        self.per_model, self.total = per_model, total
        self._counts: dict[str, int] = {}
        self._all = 0
        self._mutex = threading.Lock()

    def in_flight(self, key: str | None = None) -> int:
        with self._mutex:
            return self._all if key is None else self._counts.get(key, 0)

    @contextmanager
    def slot(self, key: str, lock: threading.Lock) -> Iterator[None]:
        with self._mutex:
            if self._all >= self.total:
                raise OverloadedError(f"the server is busy ({self._all} inference requests in flight; the limit is {self.total}): retry shortly")
            if self._counts.get(key, 0) >= self.per_model:
                raise OverloadedError(f"model {key} is busy ({self.per_model} requests in flight, its limit): retry shortly")
            self._all += 1
            self._counts[key] = self._counts.get(key, 0) + 1
        try:
            with lock:
                yield
        finally:
            with self._mutex:
                self._all -= 1
                self._counts[key] -= 1
