"""/api/models/{id}/encode-batch: several uploaded images (files or a folder) encoded at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from latentatlas.serve.batch_input import ImageBatch, batch_body, image_batch
from latentatlas.serve.deps import get_service
from latentatlas.serve.schemas import errors
from latentatlas.serve.schemas.batch import BatchEncodeResponse
from latentatlas.serve.services.core import ModelService

router = APIRouter(prefix="/api/models", tags=["models"], responses=errors(400, 403, 404, 408, 413, 415, 422, 503))


@router.post("/{model_id}/encode-batch", response_model=BatchEncodeResponse, openapi_extra=batch_body())
async def encode_batch(
    service: Annotated[ModelService, Depends(get_service)],
    batch: Annotated[ImageBatch, Depends(image_batch)],
) -> BatchEncodeResponse:
    """Encode several uploaded images (multipart, files in ``images``; at most ``max_batch_images``,
    each within the per-image limits, together within the upload limit): each one's latent,
    reconstruction, PSNR and out-of-distribution verdict against the model's held-out data."""
    return await run_in_threadpool(service.encode_batch, batch.images, batch.names)
