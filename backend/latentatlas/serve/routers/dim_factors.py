"""/api/models/{id}/dim-factors: which generative factor each latent dim follows, estimated by
intervention (:mod:`latentatlas.evaluation.intervention`) on the model's factor dataset: seeded
base cells, one factor changed at a time, rendered and encoded in one batch. Computed once per
model and kept; 409 when the model's dataset has no generative factors."""

from __future__ import annotations

import threading
from typing import Annotated
from weakref import WeakKeyDictionary

import numpy as np
import torch
from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from latentatlas.data.base import FactorDataset
from latentatlas.evaluation.intervention import (
    MIN_SCORE,
    MIN_SHARE,
    intervention_plan,
    intervention_scores,
    name_dims,
)
from latentatlas.serve.deps import get_service
from latentatlas.serve.registry import ModelService
from latentatlas.serve.schemas import errors

router = APIRouter(prefix="/api/models", tags=["models"], responses=errors(404, 409))
Service = Annotated[ModelService, Depends(get_service)]

BASES, PER_FACTOR, SEED = 4, 6, 0
ENCODE_CHUNK = 256


class DimFactors(BaseModel):
    """Per latent dim, the factor it follows (None: none clearly), with the scores behind it."""

    names: list[str | None] = Field(description="per dim: the factor it follows, or null")
    factor_names: list[str]
    scores: list[list[float]] = Field(
        description="dims x factors: the variance of z_d while only that factor changes, in units of z_d's variance"
    )
    rule: str = Field(description="when a dim is named, in words")
    bases: int = Field(description="random base cells of the factor grid")
    per_factor: int = Field(description="levels each factor is set to, at most (all of a smaller factor's)")
    seed: int
    encodes: int = Field(description="images rendered and encoded")


_cache: WeakKeyDictionary[ModelService, DimFactors] = WeakKeyDictionary()
_locks: WeakKeyDictionary[ModelService, threading.Lock] = WeakKeyDictionary()
_locks_lock = threading.Lock()


def estimate(service: ModelService) -> DimFactors:
    """The model's dim factors, computed on its first call (once per model, whoever asks at the
    same time waits for it) and then kept for as long as the model is served."""
    with _locks_lock:
        lock = _locks.setdefault(service, threading.Lock())
    with lock:
        if service not in _cache:
            _cache[service] = _estimate(service)
        return _cache[service]


def _estimate(service: ModelService) -> DimFactors:
    dataset = service.dataset
    if not isinstance(dataset, FactorDataset):
        raise HTTPException(409, f"model {service.id}'s dataset has no generative factors: its dims cannot be named by intervention")
    plan = intervention_plan(dataset.factor_sizes, BASES, PER_FACTOR, SEED)
    parts = []
    for start in range(0, len(plan.factors), ENCODE_CHUNK):
        images = dataset.render(plan.factors[start : start + ENCODE_CHUNK]).to(service.device)
        with torch.inference_mode(), service._inference():
            parts.append(service.model.encode(images).latent.float().cpu().numpy())
    scores = intervention_scores(np.concatenate(parts), plan, service.latent_std)
    names = list(dataset.factor_names)
    return DimFactors(
        names=name_dims(scores, names),
        factor_names=names,
        scores=np.round(scores, 6).tolist(),
        rule=f"a dim is named after the factor whose changes move it most when that factor's score is at least "
        f"{MIN_SCORE} and at least {MIN_SHARE:.0%} of the dim's total",
        bases=BASES,
        per_factor=PER_FACTOR,
        seed=SEED,
        encodes=len(plan.factors),
    )


@router.get("/{model_id}/dim-factors", response_model=DimFactors)
async def dim_factors(service: Service) -> DimFactors:
    """Name each latent dim after the factor that moves it, by intervention: from 4 seeded base
    cells of the factor grid, each factor set to up to 6 levels while the others stay, rendered
    and encoded (about a hundred images, once per model). 409 for a dataset without factors."""
    return await run_in_threadpool(estimate, service)
