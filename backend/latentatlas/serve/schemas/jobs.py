"""Bodies of the background jobs: a metrics job's request, a started job, and any job's status."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from latentatlas.serve.jobs import JobStatus as JobState
from latentatlas.serve.schemas.ensembles import EnsembleAnalysisSummary
from latentatlas.serve.schemas.models import ModelMetrics
from latentatlas.serve.schemas.population import PopulationLayout


class MetricsRequest(BaseModel):
    """How much work a metrics job does (defaults: those of ``latentatlas evaluate``)."""

    model_config = ConfigDict(extra="forbid")
    samples: int = Field(10_000, ge=30, le=100_000, description="factor samples (2/3 train, 1/3 test)")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    train_votes: int = Field(500, ge=1, le=10_000, description="FactorVAE/BetaVAE training votes (reference: 10,000)")
    eval_votes: int = Field(250, ge=1, le=5_000, description="FactorVAE/BetaVAE evaluation votes (reference: 5,000)")


class JobStarted(BaseModel):
    job_id: str
    status: JobState
    joined: bool = Field(description="true when the model already had a job running: this is that job")


class JobInfo(BaseModel):
    job_id: str
    model_id: str | None = Field(description="the model a metrics or layout job works on (null for ensemble jobs)")
    ensemble_id: str | None = Field(None, description="the ensemble an analysis job works on")
    status: JobState
    progress: float = Field(ge=0, le=1)
    stage: str = Field(description="what the job is doing now")
    result: ModelMetrics | EnsembleAnalysisSummary | PopulationLayout | None = Field(
        None,
        description="when done: the metrics (also written beside the model's card), an ensemble analysis' summary, "
        "or a population layout",
    )
    error: str | None = Field(None, description="when failed: why")
