"""/api/models: list, describe, encode, decode, traverse, samples, exports (traversal PNG/GIF,
metric matrices CSV/JSON); for models with ordered latents (EOFlow): truncate, entropy, denoise."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from latentatlas.config import Settings
from latentatlas.serve.deps import describe_errors, get_registry, get_service, get_settings, read_body_limited, replay
from latentatlas.serve.images import ImageInputError, decode_upload
from latentatlas.serve.registry import InputError, ModelRegistry, ModelService, UnsupportedError, metrics_csv
from latentatlas.serve.schemas import (
    errors,
    DecodeRequest,
    DenoiseByIndex,
    DenoiseParams,
    DenoiseResponse,
    EncodeByIndex,
    EncodeResponse,
    EntropyResponse,
    GenerateRequest,
    GenerateResponse,
    MetricTables,
    ModelDetail,
    DimInformation,
    ModelList,
    PopulationResponse,
    SampleList,
    TraverseExportRequest,
    TraverseRequest,
    TraverseResponse,
    TruncateByIndex,
    TruncateParams,
    TruncateResponse,
)

router = APIRouter(prefix="/api/models", tags=["models"], responses=errors(400, 403, 404, 422, 503))
UPLOAD_ERRORS = errors(408, 413, 415)
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


def _image_body(by_index: type[BaseModel], params: type[BaseModel]) -> dict:
    """OpenAPI request body: multipart ``image`` plus the parameters as form fields, or JSON by index."""
    form = {name: {"type": "string"} for name in params.model_fields}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["image"], "properties": {"image": {"type": "string", "format": "binary"}, **form}}
                },
                "application/json": {"schema": by_index.model_json_schema()},
            },
        }
    }


def _unprocessable(error: InputError) -> HTTPException:
    """422, or 409 for an operation the model does not have."""
    return HTTPException(409 if isinstance(error, UnsupportedError) else 422, str(error))


@router.get("", response_model=ModelList)
def list_models(registry: Annotated[ModelRegistry, Depends(get_registry)]) -> ModelList:
    """Every served model with what a client needs to draw its latent space."""
    return ModelList(models=[service.info() for service in registry.services.values()])


@router.get("/{model_id}", response_model=ModelDetail)
def describe_model(service: Service, registry: Annotated[ModelRegistry, Depends(get_registry)]) -> ModelDetail:
    """One model, with its training curves and card (and, with ordered latents, the held-out
    curves of the other ordered models on the same data)."""
    return service.detail(list(registry.services.values()))


async def _images_from_request(request: Request, service: ModelService, settings: Settings):
    """The batch to encode: an uploaded ``image`` (multipart) or ``{"dataset_index": i}`` (JSON)."""
    images, _ = await _images_and_params(request, service, settings, EncodeByIndex, None)
    return images


async def _images_and_params(
    request: Request, service: ModelService, settings: Settings, by_index: type[BaseModel], params: type[BaseModel] | None
):
    """(images, parameters): multipart ``image`` with the parameters as form fields, or JSON
    ``by_index`` (``dataset_index`` and the parameters). ``params`` None: no parameters."""
    content_type = request.headers.get("content-type", "")
    body = await read_body_limited(request, settings.max_upload_bytes + 64 * 1024, settings.body_timeout_seconds)
    fields = ", ".join(f'"{name}": ...' for name in by_index.model_fields if name != "dataset_index")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await MultiPartParser(request.headers, replay(body), max_files=1, max_fields=4 if params is None else 8).parse()
        except MultiPartException as error:
            raise HTTPException(422, f"malformed multipart body: {error.message}") from error
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "multipart body needs a file field named 'image'")
        values = None
        if params is not None:
            extra = {key: value for key, value in form.multi_items() if key != "image"}
            if any(isinstance(value, UploadFile) for value in extra.values()):
                raise HTTPException(422, "multipart body: only 'image' may be a file")
            try:
                values = params.model_validate(extra)
            except ValidationError as error:
                names = ", ".join(repr(name) for name in params.model_fields)
                raise HTTPException(422, f"form fields (besides 'image': {names}): {describe_errors(error.errors())}") from error
        data = await upload.read()
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"image is {len(data)} bytes; the upload limit is {settings.max_upload_bytes} bytes")
        net = service.config.net
        try:
            images = await run_in_threadpool(
                decode_upload, data, net.channels, net.image_size, settings.max_image_pixels, settings.max_decoded_pixels
            )
        except ImageInputError as error:
            raise HTTPException(error.status_code, str(error)) from error
        return images, values
    if content_type.startswith("application/json"):
        expected = 'expected JSON {"dataset_index": <int >= 0>' + (f", {fields}" if params is not None else "") + "}"
        try:
            request_body = by_index.model_validate_json(body)
        except ValidationError as error:
            raise HTTPException(422, f"{expected}: {describe_errors(error.errors())}") from error
        try:
            images = await run_in_threadpool(service.dataset_images, [request_body.dataset_index])
        except InputError as error:
            raise _unprocessable(error) from error
        values = params.model_validate(request_body.model_dump(exclude={"dataset_index"})) if params is not None else None
        return images, values
    raise HTTPException(415, "send multipart/form-data with an 'image' file, or JSON {\"dataset_index\": i}")


@router.post("/{model_id}/encode", response_model=EncodeResponse, openapi_extra=_ENCODE_BODY, responses=UPLOAD_ERRORS)
async def encode(request: Request, service: Service, settings: AppSettings) -> EncodeResponse:
    """Encode an uploaded image (PNG, JPEG, WebP, GIF) or a dataset image; returns the latent and the reconstruction."""
    images = await _images_from_request(request, service, settings)
    try:
        return EncodeResponse(**await run_in_threadpool(service.encode, images))
    except InputError as error:
        raise _unprocessable(error) from error


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


_EXPORT_TYPES = {"png": "image/png", "gif": "image/gif", "csv": "text/csv; charset=utf-8", "json": "application/json"}


def _attachment(content: bytes | str, fmt: str, model_id: str, what: str) -> Response:
    """A download: the export's media type and ``Content-Disposition: attachment; filename="MODEL-WHAT.FMT"``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", model_id)
    return Response(content, media_type=_EXPORT_TYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}-{what}.{fmt}"'})


@router.post(
    "/{model_id}/traverse/export",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/gif": {}}}},
)
def traverse_export(body: TraverseExportRequest, service: Service, settings: AppSettings) -> Response:
    """The traversal as a file for papers: ``png``, the grid with a column of dim labels (named
    after their factor where the metrics name them) and a header of step labels; ``gif``, one
    frame per step showing every dim at that step (the disentangling-vae habit)."""
    try:
        content = service.traverse_export(body.latent, body.dims, body.steps, settings.max_decode_batch, body.format, body.scale)
    except InputError as error:
        raise _unprocessable(error) from error
    return _attachment(content, body.format, service.id, "traversal")


@router.get(
    "/{model_id}/metrics/export",
    response_class=Response,
    responses={200: {"model": MetricTables, "content": {"text/csv": {"schema": {"type": "string"}}}}, **errors(409)},
)
def metrics_export(service: Service, format: Annotated[Literal["csv", "json"], Query(description="csv or json")] = "csv") -> Response:
    """The card's metric matrices (factors x dims each) with factor names and dim labels: ``json``
    (MetricTables, with the scalar scores) or ``csv`` (``matrix,factor,z0,...``: K rows per
    matrix). 409 when the model has no metrics yet."""
    try:
        tables = service.metric_tables()
    except InputError as error:
        raise _unprocessable(error) from error
    return _attachment(tables.model_dump_json(indent=1) if format == "json" else metrics_csv(tables), format, service.id, "metrics")


@router.post("/{model_id}/generate", response_model=GenerateResponse, responses=errors(409))
def generate(body: GenerateRequest, service: Service) -> GenerateResponse:
    """Latents drawn from the model's prior (seeded) and their decodes; only for models that can
    sample (``capabilities.sample``: the VAEs' N(0, I), the quantised models' uniform codes, St-RKM's
    fitted Gaussian, a flow's base; 409 otherwise)."""
    try:
        return GenerateResponse(**service.generate(body.n, body.seed))
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


@router.get("/{model_id}/dim-information", response_model=DimInformation, responses=errors(409))
def dim_information(service: Service) -> DimInformation:
    """Each latent dim's information, measured once on 2,000 seeded dataset images: a posterior's
    mean KL to the prior (nats), or a code's usage entropy (bits); 409 for models with neither."""
    try:
        return DimInformation(**service.dim_information())
    except InputError as error:
        raise _unprocessable(error) from error


@router.get("/{model_id}/population", response_model=PopulationResponse, responses=errors(409))
def population(
    service: Service,
    n: Annotated[int, Query(ge=10, le=5000, description="how many dataset samples to encode")] = 2000,
    seed: Annotated[int, Query(ge=0, lt=2**32, description="which samples (the same seed, the same samples)")] = 0,
) -> PopulationResponse:
    """Encode ``n`` seeded samples of the model's dataset (cached per model, n and seed): their
    latents, factors, dataset indices and principal (PCA) plane. 409 for a dataset without factors."""
    try:
        return PopulationResponse(**service.population(n, seed))
    except InputError as error:
        raise _unprocessable(error) from error


@router.post(
    "/{model_id}/truncate",
    response_model=TruncateResponse,
    openapi_extra=_image_body(TruncateByIndex, TruncateParams),
    responses={**UPLOAD_ERRORS, **errors(409)},
)
async def truncate(request: Request, service: Service, settings: AppSettings) -> TruncateResponse:
    """Encode an image once and decode its top-C latents for each C in ``keep`` (one batched
    decode), with each decode's PSNR against the input. Only for models with ordered latents
    (``truncatable``; 409 otherwise)."""
    try:
        service.require_truncate("truncate its latent")
    except InputError as error:
        raise _unprocessable(error) from error
    images, params = await _images_and_params(request, service, settings, TruncateByIndex, TruncateParams)
    try:
        return TruncateResponse(**await run_in_threadpool(service.truncate, images, params.keep, settings.max_decode_batch))
    except InputError as error:
        raise _unprocessable(error) from error


@router.get("/{model_id}/entropy", response_model=EntropyResponse, responses=errors(409))
def entropy(service: Service) -> EntropyResponse:
    """Explained entropy per ordered latent and its cumulative share (of the entropy above the
    smallest). Only for models with ordered latents (``capabilities.ordered``; 409 otherwise)."""
    try:
        return EntropyResponse(**service.entropy())
    except InputError as error:
        raise _unprocessable(error) from error


@router.post(
    "/{model_id}/denoise",
    response_model=DenoiseResponse,
    openapi_extra=_image_body(DenoiseByIndex, DenoiseParams),
    responses={**UPLOAD_ERRORS, **errors(409)},
)
async def denoise(request: Request, service: Service, settings: AppSettings) -> DenoiseResponse:
    """Add Gaussian noise (``sigma`` on [0, 1] pixels) to an image, encode it, keep the top
    ``keep`` latents and decode; PSNRs of the noisy and denoised images against the clean one.
    Only for ``truncatable`` models (409 otherwise)."""
    try:
        service.require_truncate("denoise by top-C decoding")
    except InputError as error:
        raise _unprocessable(error) from error
    images, params = await _images_and_params(request, service, settings, DenoiseByIndex, DenoiseParams)
    seed = secrets.randbits(32) if params.seed is None else params.seed
    try:
        return DenoiseResponse(**await run_in_threadpool(service.denoise, images, params.sigma, params.keep, seed))
    except InputError as error:
        raise _unprocessable(error) from error
