"""/api/models: list, describe, encode, decode, traverse, generate, dataset samples."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from latentatlas.serve.deps import AppSettings, get_registry, get_service
from latentatlas.serve.image_input import ImageRequest, image_input, image_route
from latentatlas.serve.registry import ModelRegistry
from latentatlas.serve.schemas import (
    DecodeRequest,
    EncodeByIndex,
    EncodeResponse,
    GenerateRequest,
    GenerateResponse,
    ModelDetail,
    ModelList,
    SampleList,
    TraverseRequest,
    TraverseResponse,
    errors,
)
from latentatlas.serve.services.core import ModelService

router = APIRouter(prefix="/api/models", tags=["models"], responses=errors(400, 403, 404, 422, 503))
Service = Annotated[ModelService, Depends(get_service)]
Registry = Annotated[ModelRegistry, Depends(get_registry)]


@router.get("", response_model=ModelList)
def list_models(registry: Registry) -> ModelList:
    """Every served model with what a client needs to draw its latent space (from the models'
    configs and cards: listing loads no weights), and the registry's ``generation``, which grows
    whenever models appear or go (folders added or removed while the server runs)."""
    generation, changed_at = registry.generation, registry.changed_at
    models = [description.info() for description in registry.models.values()]
    return ModelList(models=models, generation=generation, changed_at=changed_at)


@router.get("/{model_id}", response_model=ModelDetail)
def describe_model(service: Service, registry: Registry) -> ModelDetail:
    """One model, with its training curves and card (and, with ordered latents, the held-out
    curves of the other ordered models on the same data)."""
    return service.detail(registry.models.values())


@image_route(router, "/{model_id}/encode", EncodeResponse, EncodeByIndex)
async def encode(
    service: Service, upload: Annotated[ImageRequest, Depends(image_input(EncodeByIndex))]
) -> EncodeResponse:
    """Encode an uploaded image (PNG, JPEG, WebP, GIF) or a dataset image; returns the latent and the reconstruction."""
    return await run_in_threadpool(service.encode, upload.images)


@router.post("/{model_id}/decode", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def decode(body: DecodeRequest, service: Service) -> Response:
    """Decode one latent to a PNG image."""
    return Response(service.decode_png(body.latent), media_type="image/png")


@router.post("/{model_id}/traverse", response_model=TraverseResponse)
def traverse(body: TraverseRequest, service: Service, settings: AppSettings) -> TraverseResponse:
    """Sweep each of ``dims`` from the given latent in one batched decode; a grid with rows = dims."""
    return service.traverse(body.latent, body.dims, body.steps, settings.max_decode_batch)


@router.post("/{model_id}/generate", response_model=GenerateResponse, responses=errors(409))
def generate(body: GenerateRequest, service: Service) -> GenerateResponse:
    """Latents drawn from the model's prior (seeded) and their decodes; only for models that can
    sample (``capabilities.sample``: the VAEs' N(0, I), the quantised models' uniform codes, St-RKM's
    fitted Gaussian, a flow's base; 409 otherwise)."""
    return service.generate(body.n, body.seed)


@router.get("/{model_id}/samples", response_model=SampleList)
def samples(
    service: Service,
    n: Annotated[int, Query(ge=1, le=256, description="how many samples")] = 16,
    seed: Annotated[int | None, Query(ge=0, description="for a reproducible draw")] = None,
) -> SampleList:
    """Random images from the model's dataset with their generative factors."""
    return SampleList(samples=service.samples(n, secrets.randbits(32) if seed is None else seed))
