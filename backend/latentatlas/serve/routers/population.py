"""/api/models/{id}/population (and its -progress), /dataset-grid, /dim-information and /dim-factors:
many dataset samples encoded at once (JSON or a compact binary form) and how far an encode has got, a
selection of them seen as one image, how much each latent dim carries, and which factor each dim follows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from latentatlas.serve.deps import get_jobs, model_part
from latentatlas.serve.jobs import JobManager
from latentatlas.serve.schemas import (
    DimFactors,
    DimInformation,
    JobStarted,
    LayoutRequest,
    PopulationProgress,
    PopulationResponse,
    errors,
)
from latentatlas.serve.services.population import LAYOUT_JOB_PREFIX, PopulationService

router = APIRouter(prefix="/api/models", tags=["population"], responses=errors(400, 404, 409, 422, 503))


POPULATION_MEDIA_TYPE = "application/vnd.latentatlas.population"  # the binary form (latentatlas.serve.array_pack)
MAX_GRID_IMAGES = 64
Population = Annotated[PopulationService, Depends(model_part(PopulationService))]


@router.get("/{model_id}/dim-information", response_model=DimInformation)
def dim_information(population: Population) -> DimInformation:
    """Each latent dim's information, measured once on 2,000 seeded dataset images: a posterior's
    mean KL to the prior (nats), or a code's usage entropy (bits); 409 for models with neither."""
    return population.dim_information()


@router.get(
    "/{model_id}/population",
    response_model=PopulationResponse,
    responses={200: {"content": {POPULATION_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
)
def population(
    request: Request,
    population: Population,
    n: Annotated[int, Query(ge=10, le=100_000, description="how many dataset samples to encode")] = 2000,
    seed: Annotated[int, Query(ge=0, lt=2**32, description="which samples (the same seed, the same samples)")] = 0,
) -> PopulationResponse | Response:
    """Encode ``n`` seeded samples of the model's dataset (cached per model, n and seed): their
    latents, factors, dataset indices and principal (PCA) plane. 409 for a dataset without factors.
    JSON by default; with ``Accept: application/vnd.latentatlas.population`` the same in a compact
    binary form (a JSON header and little-endian float32 / int32 arrays, see docs/api.md)."""
    if POPULATION_MEDIA_TYPE in request.headers.get("accept", ""):
        return Response(population.population_packed(n, seed), media_type=POPULATION_MEDIA_TYPE)
    return population.population(n, seed)


@router.post("/{model_id}/population-layout", response_model=JobStarted, status_code=202, responses=errors(429))
def population_layout(
    population: Population, jobs: Annotated[JobManager, Depends(get_jobs)], body: LayoutRequest
) -> JobStarted:
    """Lay the population of ``n`` samples (``seed``, as GET /population gives them) out in 2-D by
    UMAP or t-SNE, as a background job: poll GET /api/jobs/{job_id}; its result has ``x`` and ``y``
    in the population's order. Computed once and cached per model, method, n and seed (a cached
    layout's job is done at once); the same request while one runs joins it. 409 for a dataset
    without factors, 429 when too many jobs run."""
    population.require_factors()
    key = f"{LAYOUT_JOB_PREFIX}{population.core.id}/{body.method}/n{body.n}/seed{body.seed}"
    job, joined = jobs.submit(
        key, lambda progress: population.layout(body.method, body.n, body.seed, progress), model_id=population.core.id
    )
    return JobStarted(job_id=job.id, status=job.status, joined=joined)


@router.get("/{model_id}/population-progress", response_model=PopulationProgress)
def population_progress(population: Population) -> PopulationProgress:
    """The population encode under way for this model, if any: samples encoded so far of ``n`` (poll it
    while GET /population runs; ``running: false`` when none is)."""
    return population.progress()


@router.get("/{model_id}/dataset-grid", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def dataset_grid(
    population: Population,
    indices: Annotated[
        str,
        Query(
            pattern=rf"^\d{{1,9}}(,\d{{1,9}}){{0,{MAX_GRID_IMAGES - 1}}}$",
            description=f"comma-separated dataset indices, 1 to {MAX_GRID_IMAGES}",
        ),
    ],
    columns: Annotated[int, Query(ge=1, le=MAX_GRID_IMAGES, description="images per row")] = 8,
) -> Response:
    """The dataset images at ``indices`` tiled into one PNG (a population selection); an
    index outside the dataset (422, naming it)."""
    return Response(population.dataset_grid([int(i) for i in indices.split(",")], columns), media_type="image/png")


@router.get("/{model_id}/dim-factors", response_model=DimFactors)
def dim_factors(population: Population) -> DimFactors:
    """Name each latent dim after the factor that moves it, by intervention: from 4 seeded base
    cells of the factor grid, each factor set to up to 6 levels while the others stay, rendered
    and encoded (about a hundred images, once per model). 409 for a dataset without factors."""
    return population.dim_factors()
