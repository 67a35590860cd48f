"""/api/models/{id}/metrics and /api/jobs/{id}: disentanglement metrics as background jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from latentatlas.config import Settings
from latentatlas.errors import NotFoundError
from latentatlas.serve.deps import get_jobs, get_service, get_settings
from latentatlas.serve.jobs import Job, JobManager
from latentatlas.serve.schemas import JobInfo, JobStarted, MetricsRequest, ModelMetrics, errors
from latentatlas.serve.services.core import ModelService
from latentatlas.serve.services.metrics_jobs import metrics_work, restore_shipped_metrics

router = APIRouter(prefix="/api", tags=["metrics"], responses=errors(400, 404, 422))
Jobs = Annotated[JobManager, Depends(get_jobs)]


@router.post("/models/{model_id}/metrics", response_model=JobStarted, status_code=202, responses=errors(403, 429))
def start_metrics(
    service: Annotated[ModelService, Depends(get_service)],
    jobs: Jobs,
    settings: Annotated[Settings, Depends(get_settings)],
    body: MetricsRequest | None = None,
) -> JobStarted:
    """Compute every disentanglement metric of the model in the background; poll GET /api/jobs/{job_id}.

    While the model's job runs, another request joins it (same job_id, its own body
    ignored). 429 when LATENTATLAS_MAX_JOBS jobs are running; 422 when the model's dataset
    has no generative factors.
    """
    from latentatlas.evaluation.disentanglement import VoteCounts  # with the first job: scikit-learn is slow to import

    body = body or MetricsRequest()
    votes = VoteCounts(train=body.train_votes, eval=body.eval_votes)
    job, joined = jobs.submit(
        service.id,
        metrics_work(service, body.samples, body.seed, votes, settings.torch_threads, settings.state_dir),
        model_id=service.id,
    )
    return JobStarted(job_id=job.id, status=job.status, joined=joined)


@router.post("/models/{model_id}/metrics/shipped", response_model=ModelMetrics | None)
def shipped_metrics(service: Annotated[ModelService, Depends(get_service)]) -> ModelMetrics | None:
    """Back to the shipped card: a metrics job's numbers (kept beside the card, under runs/) stop
    being served and the shipped card.json's metrics are served again; null when it has none."""
    return restore_shipped_metrics(service)


def _job_info(job: Job) -> JobInfo:
    """A job as the API shows it, with the model or ensemble it works on."""
    return JobInfo(
        job_id=job.id,
        model_id=job.model_id,
        ensemble_id=job.ensemble_id,
        status=job.status,
        progress=job.progress,
        stage=job.stage,
        result=job.result,
        error=job.error,
    )


def _unknown_job(job_id: str) -> NotFoundError:
    return NotFoundError(f"unknown job {job_id[:100]!r} (jobs are kept in memory until the server restarts)")


@router.get("/jobs/{job_id}", response_model=JobInfo)
def job_status(job_id: str, jobs: Jobs) -> JobInfo:
    """A job's status and progress; its result once done, its error once failed."""
    job = jobs.get(job_id)
    if job is None:
        raise _unknown_job(job_id)
    return _job_info(job)


@router.delete("/jobs/{job_id}", response_model=JobInfo, responses=errors(403))
def cancel_job(job_id: str, jobs: Jobs) -> JobInfo:
    """Cancel a queued or running job: it stops at its next progress report (status
    ``cancelled``) and writes nothing. A finished job is returned unchanged."""
    job = jobs.cancel(job_id)
    if job is None:
        raise _unknown_job(job_id)
    return _job_info(job)
