"""/api/models: list, describe, encode, decode, traverse, samples."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from latentatlas.config import Settings
from latentatlas.serve.deps import describe_errors, get_registry, get_service, get_settings, read_body_limited, replay
from latentatlas.serve.images import ImageInputError, decode_upload
from latentatlas.serve.registry import InputError, ModelRegistry, ModelService
from latentatlas.serve.schemas import (
    DecodeRequest,
    EncodeByIndex,
    EncodeResponse,
    ModelDetail,
    ModelList,
    SampleList,
    TraverseRequest,
    TraverseResponse,
)

router = APIRouter(prefix="/api/models", tags=["models"])
Service = Annotated[ModelService, Depends(get_service)]
AppSettings = Annotated[Settings, Depends(get_settings)]

_ENCODE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["image"], "properties": {"image": {"type": "string", "format": "binary"}}}
            },
            "application/json": {"schema": EncodeByIndex.model_json_schema()},
        },
    }
}


def _unprocessable(error: InputError) -> HTTPException:
    return HTTPException(422, str(error))


@router.get("", response_model=ModelList)
def list_models(registry: Annotated[ModelRegistry, Depends(get_registry)]) -> ModelList:
    """Every served model with what a client needs to draw its latent space."""
    return ModelList(models=[service.info() for service in registry.services.values()])


@router.get("/{model_id}", response_model=ModelDetail)
def describe_model(service: Service) -> ModelDetail:
    """One model, with its training curves and card."""
    return service.detail()


async def _images_from_request(request: Request, service: ModelService, settings: Settings):
    """The batch to encode: an uploaded ``image`` (multipart) or ``{"dataset_index": i}`` (JSON)."""
    content_type = request.headers.get("content-type", "")
    body = await read_body_limited(request, settings.max_upload_bytes + 64 * 1024)
    if content_type.startswith("multipart/form-data"):
        try:
            form = await MultiPartParser(request.headers, replay(body), max_files=1, max_fields=4).parse()
        except MultiPartException as error:
            raise HTTPException(422, f"malformed multipart body: {error.message}") from error
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "multipart body needs a file field named 'image'")
        data = await upload.read()
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"image is {len(data)} bytes; the upload limit is {settings.max_upload_bytes} bytes")
        net = service.config.net
        try:
            return await run_in_threadpool(decode_upload, data, net.channels, net.image_size, settings.max_image_pixels)
        except ImageInputError as error:
            raise HTTPException(error.status_code, str(error)) from error
    if content_type.startswith("application/json"):
        expected = 'expected JSON {"dataset_index": <int >= 0>}'
        try:
            request_body = EncodeByIndex.model_validate_json(body)
        except ValidationError as error:
            raise HTTPException(422, f"{expected}: {describe_errors(error.errors())}") from error
        try:
            return await run_in_threadpool(service.dataset_images, [request_body.dataset_index])
        except InputError as error:
            raise _unprocessable(error) from error
    raise HTTPException(415, "send multipart/form-data with an 'image' file, or JSON {\"dataset_index\": i}")


@router.post("/{model_id}/encode", response_model=EncodeResponse, openapi_extra=_ENCODE_BODY)
async def encode(request: Request, service: Service, settings: AppSettings) -> EncodeResponse:
    """Encode an uploaded image (PNG, JPEG, WebP, GIF) or a dataset image; returns the latent and the reconstruction."""
    images = await _images_from_request(request, service, settings)
    return EncodeResponse(**await run_in_threadpool(service.encode, images))


@router.post("/{model_id}/decode", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def decode(body: DecodeRequest, service: Service) -> Response:
    """Decode one latent to a PNG image."""
    try:
        return Response(service.decode_png(body.latent), media_type="image/png")
    except InputError as error:
        raise _unprocessable(error) from error


@router.post("/{model_id}/traverse", response_model=TraverseResponse)
def traverse(body: TraverseRequest, service: Service, settings: AppSettings) -> TraverseResponse:
    """Sweep each of ``dims`` from the given latent in one batched decode; a grid with rows = dims."""
    try:
        return TraverseResponse(**service.traverse(body.latent, body.dims, body.steps, settings.max_decode_batch))
    except InputError as error:
        raise _unprocessable(error) from error


@router.get("/{model_id}/samples", response_model=SampleList)
def samples(
    service: Service,
    n: Annotated[int, Query(ge=1, le=256, description="how many samples")] = 16,
    seed: Annotated[int | None, Query(ge=0, description="for a reproducible draw")] = None,
) -> SampleList:
    """Random images from the model's dataset with their generative factors."""
    try:
        return SampleList(samples=service.samples(n, secrets.randbits(32) if seed is None else seed))
    except InputError as error:
        raise _unprocessable(error) from error
