"""/api/ensembles: list, describe, similarity, hotspots, and analysis as a background job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from latentatlas.config import Settings
from latentatlas.serve.deps import get_ensemble, get_ensembles, get_jobs, get_settings
from latentatlas.serve.ensemble_registry import EnsembleRegistry
from latentatlas.serve.ensembles import ENSEMBLE_JOB_PREFIX, EnsembleService
from latentatlas.serve.jobs import JobManager
from latentatlas.serve.schemas import (
    AnalyzeRequest,
    EnsembleDetail,
    EnsembleHotspots,
    EnsembleList,
    EnsembleSimilarity,
    JobStarted,
    errors,
)
from latentatlas.serve.schemas.curves import MemberCurveSet
from latentatlas.serve.services.member_curves import member_curve_set

router = APIRouter(prefix="/api/ensembles", tags=["ensembles"], responses=errors(400, 404, 422))
Ensemble = Annotated[EnsembleService, Depends(get_ensemble)]


@router.get("", response_model=EnsembleList)
def list_ensembles(ensembles: Annotated[EnsembleRegistry, Depends(get_ensembles)]) -> EnsembleList:
    """Every served ensemble: its grid of betas x seeds, members per status, analysed or not."""
    return EnsembleList(ensembles=[service.info() for service in ensembles.services.values()])


@router.get("/{ensemble_id}", response_model=EnsembleDetail)
def describe_ensemble(ensemble: Ensemble) -> EnsembleDetail:
    """One ensemble's members (beta, seed, status, served model id) and, once analysed, each
    member's information per latent dimension (bits)."""
    return ensemble.detail()


@router.get("/{ensemble_id}/curves", response_model=MemberCurveSet)
def curves(ensemble: Ensemble) -> MemberCurveSet:
    """The training curves of the ensemble's finished members (from their cards), grouped by
    the member's name without -seedN (one group per beta), to overlay the seeds of a group."""
    return member_curve_set(f"ensemble/{ensemble.id}", ensemble.finished_members())


@router.get("/{ensemble_id}/similarity", response_model=EnsembleSimilarity, responses=errors(409))
def similarity(ensemble: Ensemble) -> EnsembleSimilarity:
    """Channel x channel NMI and VI, the channels (member, dim, beta), OPTICS ordering,
    reachability and hotspot labels. 409 until the ensemble has been analysed."""
    return ensemble.similarity()


@router.get("/{ensemble_id}/hotspots", response_model=EnsembleHotspots, responses=errors(409))
def hotspots(ensemble: Ensemble) -> EnsembleHotspots:
    """Each hotspot's channels (members, betas, dims), mean information and best-matching
    factor by channel-factor NMI. 409 until the ensemble has been analysed."""
    return ensemble.hotspots()


@router.post("/{ensemble_id}/analyze", response_model=JobStarted, status_code=202, responses=errors(403, 429))
def analyze(
    ensemble: Ensemble,
    jobs: Annotated[JobManager, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
    body: AnalyzeRequest | None = None,
) -> JobStarted:
    """Compute the ensemble's information fragments and hotspots in the background (written to
    its analysis.json, then served); poll GET /api/jobs/{job_id}. While one runs, another
    request joins it. 429 when LATENTATLAS_MAX_JOBS jobs are running; 422 when no member is
    finished."""
    body = body or AnalyzeRequest()
    work = ensemble.analyze_work(body.distance, body.min_samples, settings.state_dir)
    job, joined = jobs.submit(ENSEMBLE_JOB_PREFIX + ensemble.id, work, ensemble_id=ensemble.id)
    return JobStarted(job_id=job.id, status=job.status, joined=joined)
