"""/api/models/{id}/interpolate and /directions: moving through a latent space along a line
between two images, or along its principal directions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from latentatlas.serve.deps import get_service, model_part
from latentatlas.serve.image_input import ImagePair, image_pair_body, image_pair_input
from latentatlas.serve.schemas import (
    DirectionsResponse,
    InterpolateByIndex,
    InterpolateParams,
    InterpolateResponse,
    errors,
)
from latentatlas.serve.services.core import ModelService
from latentatlas.serve.services.directions import MAX_DIRECTIONS, DirectionsService
from latentatlas.serve.services.interpolation import interpolate, interpolation_gif, interpolation_response

router = APIRouter(prefix="/api/models", tags=["latent paths"], responses=errors(400, 403, 404, 409, 422, 503))
Service = Annotated[ModelService, Depends(get_service)]
Pair = Annotated[ImagePair, Depends(image_pair_input(InterpolateByIndex, InterpolateParams))]
Directions = Annotated[DirectionsService, Depends(model_part(DirectionsService))]


@router.post(
    "/{model_id}/interpolate",
    response_model=InterpolateResponse,
    openapi_extra=image_pair_body(InterpolateByIndex, InterpolateParams),
    responses={200: {"content": {"image/gif": {}}}, **errors(408, 413, 415)},
)
async def interpolate_images(
    service: Service,
    pair: Pair,
    format: Annotated[
        Literal["json", "gif"], Query(description="json: frames and latents; gif: an animated GIF")
    ] = "json",
) -> InterpolateResponse | Response:
    """Encode two images (``from``, ``to``: dataset images, or uploads as in /encode) and decode
    ``steps`` evenly spaced latents on the line between them, (1 - t) z_from + t z_to; models with
    discrete codes snap each latent to the codebooks. Models without a decoder render with their
    probe decoder (labelled); 409 for a model with neither. ``format=gif``: the frames as a GIF."""
    path = await run_in_threadpool(interpolate, service, *pair.images, pair.params.steps)
    if format == "gif":
        gif = await run_in_threadpool(interpolation_gif, path, service.config.net.image_size)
        return Response(gif, media_type="image/gif")
    return await run_in_threadpool(interpolation_response, path)


@router.get("/{model_id}/directions", response_model=DirectionsResponse)
def directions(
    directions: Directions,
    count: Annotated[int, Query(ge=1, le=MAX_DIRECTIONS, description="how many directions")] = 8,
) -> DirectionsResponse:
    """The principal directions of the model's latents (PCA of up to 1,000 of its held-out dataset
    images, encoded once per model), each with its sd and explained variance ratio: an edit along
    direction k adds t * sd_k * v_k to a latent (GANSpace). 409 without an encoder."""
    return directions.directions(count)
