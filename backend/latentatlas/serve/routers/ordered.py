"""/api/models/{id}/truncate, /entropy, /denoise: top-C decoding, explained entropy and denoising,
for models with ordered latents (``capabilities.ordered``, e.g. EOFlow; 409 for the others)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from latentatlas.serve.deps import AppSettings, get_service
from latentatlas.serve.image_input import ImageRequest, image_input, image_route
from latentatlas.serve.schemas import (
    DenoiseByIndex,
    DenoiseParams,
    DenoiseResponse,
    EntropyResponse,
    TruncateByIndex,
    TruncateParams,
    TruncateResponse,
    errors,
)
from latentatlas.serve.services.core import ModelService
from latentatlas.serve.services.ordered import OrderedLatentService

router = APIRouter(prefix="/api/models", tags=["ordered latents"], responses=errors(400, 403, 404, 409, 422, 503))


def ordered(what: str) -> Callable[[ModelService], OrderedLatentService]:
    """A dependency: the model's ordered-latent service, or 409 naming ``what`` it cannot do
    (checked before an upload is read)."""

    def require(service: Annotated[ModelService, Depends(get_service)]) -> OrderedLatentService:
        return OrderedLatentService.of(service, what)

    return require


@image_route(router, "/{model_id}/truncate", TruncateResponse, TruncateByIndex, TruncateParams)
async def truncate(
    service: Annotated[OrderedLatentService, Depends(ordered("truncate its latent"))],
    upload: Annotated[ImageRequest, Depends(image_input(TruncateByIndex, TruncateParams))],
    settings: AppSettings,
) -> TruncateResponse:
    """Encode an image once and decode its top-C latents for each C in ``keep`` (one batched
    decode), with each decode's PSNR against the input; with ``baselines``, PCA's top-C
    reconstruction of the image beside each (the card's PCA, fitted once per model)."""
    params = upload.params
    return await run_in_threadpool(
        service.truncate, upload.images, params.keep, settings.max_decode_batch, params.baselines
    )


@router.get("/{model_id}/entropy", response_model=EntropyResponse)
def entropy(service: Annotated[OrderedLatentService, Depends(ordered("report explained entropy"))]) -> EntropyResponse:
    """Explained entropy per ordered latent, its cumulative share (of the entropy above the
    smallest), and a log-spaced grid of C (numbers of top latents) worth offering."""
    return service.entropy()


@image_route(router, "/{model_id}/denoise", DenoiseResponse, DenoiseByIndex, DenoiseParams)
async def denoise(
    service: Annotated[OrderedLatentService, Depends(ordered("denoise by top-C decoding"))],
    upload: Annotated[ImageRequest, Depends(image_input(DenoiseByIndex, DenoiseParams))],
) -> DenoiseResponse:
    """Add Gaussian noise (``sigma`` on [0, 1] pixels) to an image, encode it, keep the top
    ``keep`` latents and decode; PSNRs of the noisy and denoised images against the clean one;
    with ``baselines``, PCA's projection of the noisy image onto its top ``keep`` axes beside it."""
    params = upload.params
    seed = secrets.randbits(32) if params.seed is None else params.seed
    return await run_in_threadpool(service.denoise, upload.images, params.sigma, params.keep, seed, params.baselines)
