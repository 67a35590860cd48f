"""/api/models/{id}/population, /dim-information and /dim-factors: many dataset samples encoded at
once, how much each latent dim carries, and which factor each dim follows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from latentatlas.serve.deps import model_part
from latentatlas.serve.schemas import DimFactors, DimInformation, PopulationResponse, errors
from latentatlas.serve.services.population import PopulationService

router = APIRouter(prefix="/api/models", tags=["population"], responses=errors(400, 404, 409, 422, 503))


Population = Annotated[PopulationService, Depends(model_part(PopulationService))]


@router.get("/{model_id}/dim-information", response_model=DimInformation)
def dim_information(population: Population) -> DimInformation:
    """Each latent dim's information, measured once on 2,000 seeded dataset images: a posterior's
    mean KL to the prior (nats), or a code's usage entropy (bits); 409 for models with neither."""
    return population.dim_information()


@router.get("/{model_id}/population", response_model=PopulationResponse)
def population(
    population: Population,
    n: Annotated[int, Query(ge=10, le=5000, description="how many dataset samples to encode")] = 2000,
    seed: Annotated[int, Query(ge=0, lt=2**32, description="which samples (the same seed, the same samples)")] = 0,
) -> PopulationResponse:
    """Encode ``n`` seeded samples of the model's dataset (cached per model, n and seed): their
    latents, factors, dataset indices and principal (PCA) plane. 409 for a dataset without factors."""
    return population.population(n, seed)


@router.get("/{model_id}/dim-factors", response_model=DimFactors)
def dim_factors(population: Population) -> DimFactors:
    """Name each latent dim after the factor that moves it, by intervention: from 4 seeded base
    cells of the factor grid, each factor set to up to 6 levels while the others stay, rendered
    and encoded (about a hundred images, once per model). 409 for a dataset without factors."""
    return population.dim_factors()
