"""Stopping long computations from outside, across processes: a :class:`StopFlag` is a file that
exists once a stop was asked for, so the joblib worker processes of a computation (exact DCI's
gradient-boosted trees) can poll it between boosting stages and end within a stage, not at the
end of their fit; the computation then raises :class:`Stopped`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class Stopped(Exception):
    """A computation ended early because its stop flag was set; its partial results are dropped."""


@dataclass(frozen=True)
class StopFlag:
    """Set once (``set()``), read anywhere (``flag()`` is True once set), pickled into worker
    processes as its path; ``clear()`` removes the file."""

    path: Path

    def set(self) -> None:
        self.path.touch()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def __call__(self) -> bool:
        return self.path.exists()
