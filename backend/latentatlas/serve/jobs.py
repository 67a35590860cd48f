"""Background jobs: CPU-bound work (e.g. a model's metrics) in threads, polled by id.

A small in-process manager with no web imports: ``submit(key, work)`` runs
``work(progress)`` in a thread, where ``progress(fraction, stage)`` records how far it
got and ``progress.stop`` is the job's :class:`~latentatlas.stopping.StopFlag`, set by a
cancel, for work whose worker processes should stop mid-computation (exact DCI's trees). At most ``max_active`` jobs are queued or running at once (``JobLimitError``
beyond); a submission for a key whose job is still active joins that job. Finished
jobs are kept (the newest ``keep_finished``) so their results can still be polled.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from latentatlas.errors import JobLimitError
from latentatlas.stopping import StopFlag, Stopped

log = logging.getLogger("latentatlas.jobs")

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
JOB_RETRY_AFTER_SECONDS = JobLimitError.retry_after_seconds
"""What a 429 (too many active jobs) tells the client to wait before trying again (Retry-After)."""


@dataclass(frozen=True)
class JobProgress:
    """What a job's work gets: ``progress(fraction, stage)`` records how far it got (and raises
    :class:`JobCancelled` once a cancel was asked for); ``stop`` is set by that cancel at once."""

    report: Callable[[float, str], None]
    stop: StopFlag

    def __call__(self, fraction: float, stage: str) -> None:
        self.report(fraction, stage)


Work = Callable[[JobProgress], Any]


PARENT_POLL_SECONDS = 0.5


def exit_with_parent(parent_pid: int) -> None:
    """A job's worker process: exit as soon as ``parent_pid`` (the server) is no longer its
    parent, however the server ended (a watchdog thread; a SIGKILLed server runs no clean-up)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class JobCancelled(Exception):
    """Raised inside a job's work at its next progress report once a cancel was asked for."""


@dataclass
class Job:
    """One job's state; ``key`` names the work (a second submission of the key joins it) and
    ``model_id`` or ``ensemble_id`` what it works on."""

    id: str
    key: str
    model_id: str | None = None
    ensemble_id: str | None = None
    status: JobStatus = "queued"
    progress: float = 0.0
    stage: str = "queued"
    result: Any = None
    error: str | None = None
    cancel_requested: bool = False

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")


class JobManager:
    """Runs jobs in daemon threads (they die with the process) and remembers them by id."""

    def __init__(self, max_active: int, keep_finished: int = 64, private_paths: dict[Path, str] | None = None) -> None:
        self.max_active = max_active
        self.private_paths = private_paths or {}
        self.keep_finished = keep_finished
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._flags = Path(tempfile.mkdtemp(prefix="latentatlas-jobs-"))  # one stop flag per running job
        weakref.finalize(self, shutil.rmtree, self._flags, ignore_errors=True)

    def submit(
        self, key: str, work: Work, *, model_id: str | None = None, ensemble_id: str | None = None
    ) -> tuple[Job, bool]:
        """Start ``work`` for ``key`` (or join its active job), on the model or ensemble named;
        returns (job snapshot, joined)."""
        with self._lock:
            for job in self._jobs.values():
                if job.key == key and job.active:
                    return replace(job), True
            active = sum(job.active for job in self._jobs.values())
            if active >= self.max_active:
                raise JobLimitError(
                    f"{active} job(s) are already running, the limit is {self.max_active}; "
                    "retry when one has finished (LATENTATLAS_MAX_JOBS raises the limit)"
                )
            job = Job(id=secrets.token_hex(8), key=key, model_id=model_id, ensemble_id=ensemble_id)
            self._jobs[job.id] = job
            self._forget_old()
            snapshot = replace(job)
        threading.Thread(target=self._run, args=(job, work), name=f"job-{key}", daemon=True).start()
        return snapshot, False

    def get(self, job_id: str) -> Job | None:
        """A consistent copy of the job, or None when unknown (or long forgotten)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return replace(job) if job is not None else None

    def cancel(self, job_id: str) -> Job | None:
        """Ask an active job to stop: its work raises :class:`JobCancelled` at its next progress
        report and writes nothing (results are only ever written at the end). A finished job is
        left as it is. Returns the job's snapshot, or None when unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.active:
                job.cancel_requested = True
                job.stage = f"cancelling (at the end of: {job.stage})"
                self._stop_flag(job).set()
            return replace(job)

    def _stop_flag(self, job: Job) -> StopFlag:
        return StopFlag(self._flags / job.id)

    def _run(self, job: Job, work: Work) -> None:
        def progress(fraction: float, stage: str) -> None:
            with self._lock:
                if job.cancel_requested:
                    raise JobCancelled
                job.progress, job.stage = max(0.0, min(1.0, fraction)), stage

        with self._lock:
            job.status, job.stage = "running", "starting"
        try:
            if job.cancel_requested:
                raise JobCancelled
            from joblib import parallel_config  # here: the server starts without joblib

            # joblib's worker processes (loky) watch this process and exit when it is gone (SIGKILL included)
            with parallel_config(backend="loky", initializer=exit_with_parent, initargs=(os.getpid(),)):
                result = work(JobProgress(progress, self._stop_flag(job)))
        except (JobCancelled, Stopped):
            log.info("job %s (%s) cancelled", job.id, job.key)
            with self._lock:
                job.status, job.stage = "cancelled", "cancelled"
        except Exception as error:
            log.exception("job %s (%s) failed", job.id, job.key)
            with self._lock:
                job.status, job.error = "failed", self._public(str(error) or type(error).__name__)
        else:
            with self._lock:
                job.status, job.progress, job.stage, job.result = "done", 1.0, "done", result
        finally:
            self._stop_flag(job).clear()

    def _public(self, message: str) -> str:
        """An error message as clients see it: the server's folders named by their setting, never by path."""
        for path, name in self.private_paths.items():
            message = message.replace(str(path.resolve()), name).replace(str(path), name)
        return message

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if not job.active]
        for job_id in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job_id]
