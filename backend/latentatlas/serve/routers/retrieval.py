"""/api/models/{id}/nearest and /retrieval-traverse: the dataset images nearest to a latent, and
traversals shown by retrieval (the ``retrieval`` capability; what stands in for a decoder)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from latentatlas.serve.deps import AppSettings, model_part
from latentatlas.serve.schemas import (
    NearestRequest,
    NearestResponse,
    RetrievalTraverseRequest,
    RetrievalTraverseResponse,
    errors,
)
from latentatlas.serve.services.retrieval import RetrievalService

router = APIRouter(prefix="/api/models", tags=["retrieval"], responses=errors(400, 404, 409, 422, 503))


Retrieval = Annotated[RetrievalService, Depends(model_part(RetrievalService))]


@router.post("/{model_id}/nearest", response_model=NearestResponse)
def nearest(body: NearestRequest, retrieval: Retrieval) -> NearestResponse:
    """The ``k`` dataset images whose latents are nearest to ``latent`` (Euclidean on latents
    standardised per dim), from an index of 2,000 seeded dataset images encoded once per model.
    409 for a model without the ``retrieval`` capability."""
    return retrieval.nearest(body.latent, body.k)


@router.post("/{model_id}/retrieval-traverse", response_model=RetrievalTraverseResponse)
def retrieval_traverse(
    body: RetrievalTraverseRequest, retrieval: Retrieval, settings: AppSettings
) -> RetrievalTraverseResponse:
    """/traverse's sweep (same dims, values and limits), each tile the dataset image nearest to the
    swept latent: a traversal for models without a decoder."""
    return retrieval.traverse(body.latent, body.dims, body.steps, settings.max_decode_batch)
