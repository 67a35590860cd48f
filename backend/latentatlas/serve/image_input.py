"""The image a request brings, as a FastAPI dependency: a multipart upload (``image``, with the
endpoint's parameters as form fields) or JSON naming a dataset image (``{"dataset_index": i, ...}``);
or the two images of a pair (``from`` and ``to``, each an upload or a dataset index).
Uploads are decoded safely (:mod:`latentatlas.serve.images`); refusals are domain errors."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from latentatlas.config import Settings
from latentatlas.errors import ImageInputError, InputError
from latentatlas.serve.deps import get_service, get_settings, replay
from latentatlas.serve.errors import describe_errors
from latentatlas.serve.images import decode_upload
from latentatlas.serve.schemas.common import errors
from latentatlas.serve.services.core import ModelService

FORM_OVERHEAD_BYTES = 64 * 1024
"""What a multipart body may hold besides the image itself (boundaries, headers, form fields)."""


@dataclass
class ImageRequest:
    """The images to work on (1, C, S, S) and the endpoint's parameters (None when it has none)."""

    images: torch.Tensor
    params: Any


@dataclass
class ImagePair:
    """Two images to work on, each (1, C, S, S) (``from``, then ``to``), and the endpoint's parameters."""

    images: tuple[torch.Tensor, torch.Tensor]
    params: Any


def image_body(by_index: type[BaseModel], params: type[BaseModel] | None = None) -> dict:
    """OpenAPI request body: multipart ``image`` plus the parameters as form fields, or JSON by index."""
    form = {name: {"type": "string"} for name in params.model_fields} if params is not None else {}
    image = {"image": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["image"], "properties": {**image, **form}}
                },
                "application/json": {"schema": by_index.model_json_schema()},
            },
        }
    }


def image_route(
    router: APIRouter,
    path: str,
    response_model: type[BaseModel],
    by_index: type[BaseModel],
    params: type[BaseModel] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``router.post(path)`` for an endpoint whose input is :func:`image_input`'s: its OpenAPI body
    (:func:`image_body`) and an upload's errors (408 slow body, 413 too large, 415 not an image)."""
    return router.post(
        path,
        response_model=response_model,
        openapi_extra=image_body(by_index, params),
        responses=errors(408, 413, 415),
    )


def image_input(
    by_index: type[BaseModel], params: type[BaseModel] | None = None
) -> Callable[..., Awaitable[ImageRequest]]:
    """A dependency reading the request's image: multipart ``image`` with ``params`` as form
    fields, or JSON ``by_index`` (``dataset_index`` and the parameters); ``params`` None: none."""

    async def read(
        request: Request,
        service: Annotated[ModelService, Depends(get_service)],
        settings: Annotated[Settings, Depends(get_settings)],
    ) -> ImageRequest:
        form, body = await _read_body(
            request, "send multipart/form-data with an 'image' file, or JSON {\"dataset_index\": i}", max_files=1
        )
        if form is None:
            return await _from_json(body, service, by_index, params)
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise InputError("multipart body needs a file field named 'image'")
        values = _form_params(form, params, ("image",)) if params is not None else None
        return ImageRequest(await _decoded(upload, service, settings), values)

    return read


async def _read_body(request: Request, refusal: str, max_files: int) -> tuple[FormData | None, bytes]:
    """The request's body, read whole (within the size and time limits of serve.bodies), and its
    form when it is multipart (None: JSON); any other content type is refused (415, ``refusal``)."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if content_type.startswith("application/json"):
        return None, body
    if not content_type.startswith("multipart/form-data"):
        raise ImageInputError(415, refusal)
    try:
        form = await MultiPartParser(request.headers, replay(body), max_files=max_files, max_fields=8).parse()
    except MultiPartException as error:
        raise InputError(f"malformed multipart body: {error.message}") from error
    return form, body


def _form_params(form: FormData, params: type[BaseModel], file_fields: tuple[str, ...]) -> BaseModel:
    """The endpoint's parameters from the form fields other than ``file_fields`` (which alone may be files)."""
    besides = " and ".join(repr(name) for name in file_fields)
    extra = {key: value for key, value in form.multi_items() if key not in file_fields}
    if any(isinstance(value, UploadFile) for value in extra.values()):
        raise InputError(f"multipart body: only {besides} may be {'files' if len(file_fields) > 1 else 'a file'}")
    try:
        return params.model_validate(extra)
    except ValidationError as error:
        names = ", ".join(repr(name) for name in params.model_fields)
        raise InputError(f"form fields (besides {besides}: {names}): {describe_errors(error.errors())}") from error


async def _decoded(upload: UploadFile, service: ModelService, settings: Settings) -> torch.Tensor:
    """An uploaded file decoded safely to the model's input (1, C, S, S), within the upload limits."""
    data = await upload.read()
    if len(data) > settings.max_upload_bytes:
        raise ImageInputError(413, f"image is {len(data)} bytes; the upload limit is {settings.max_upload_bytes} bytes")
    net = service.config.net
    return await run_in_threadpool(
        decode_upload, data, net.channels, net.image_size, settings.max_image_pixels, settings.max_decoded_pixels
    )


async def _from_json(
    body: bytes, service: ModelService, by_index: type[BaseModel], params: type[BaseModel] | None
) -> ImageRequest:
    fields = ", ".join(f'"{name}": ...' for name in by_index.model_fields if name != "dataset_index")
    expected = 'expected JSON {"dataset_index": <int >= 0>' + (f", {fields}" if params is not None else "") + "}"
    try:
        request_body = by_index.model_validate_json(body)
    except ValidationError as error:
        raise InputError(f"{expected}: {describe_errors(error.errors())}") from error
    images = await run_in_threadpool(service.dataset_images, [request_body.dataset_index])  # type: ignore[attr-defined]
    values = params.model_validate(request_body.model_dump(exclude={"dataset_index"})) if params is not None else None
    return ImageRequest(images, values)


PAIR_ENDS = ("from", "to")
"""The fields that name a two-image endpoint's images (in JSON and in multipart bodies)."""


def image_pair_body(by_index: type[BaseModel], params: type[BaseModel]) -> dict:
    """OpenAPI request body of a two-image endpoint: multipart ``from`` and ``to`` (each a file or
    a dataset index) plus the parameters as form fields, or JSON naming two dataset images."""
    either = {"type": "string", "format": "binary", "description": "an image file, or a dataset index (as text)"}
    form = {name: {"type": "string"} for name in params.model_fields}
    schema = {"type": "object", "required": list(PAIR_ENDS), "properties": {**dict.fromkeys(PAIR_ENDS, either), **form}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": schema},
                "application/json": {"schema": by_index.model_json_schema()},
            },
        }
    }


def image_pair_input(by_index: type[BaseModel], params: type[BaseModel]) -> Callable[..., Awaitable[ImagePair]]:
    """A dependency reading a request's two images, ``from`` and ``to``: multipart, each an
    uploaded file or a dataset index, with ``params`` as form fields; or JSON ``by_index``
    (``{"from": {"dataset_index": i}, "to": {"dataset_index": j}, ...params}``). The uploads
    together stay within the upload limit."""

    async def read(
        request: Request,
        service: Annotated[ModelService, Depends(get_service)],
        settings: Annotated[Settings, Depends(get_settings)],
    ) -> ImagePair:
        form, body = await _read_body(
            request,
            'send JSON {"from": {"dataset_index": i}, "to": {"dataset_index": j}}, or multipart/form-data '
            "with 'from' and 'to' (each an image file or a dataset index)",
            max_files=2,
        )
        if form is None:
            return await _pair_from_json(body, service, by_index, params)
        images = []
        for end in PAIR_ENDS:
            item = form.get(end)
            if isinstance(item, UploadFile):
                images.append(await _decoded(item, service, settings))
            elif isinstance(item, str) and re.fullmatch(r"[0-9]{1,12}", item.strip()):
                images.append(await _dataset_image(service, end, int(item)))
            else:
                raise InputError(f"multipart body needs '{end}': an image file, or a dataset index (an integer >= 0)")
        return ImagePair((images[0], images[1]), _form_params(form, params, PAIR_ENDS))

    return read


async def _pair_from_json(
    body: bytes, service: ModelService, by_index: type[BaseModel], params: type[BaseModel]
) -> ImagePair:
    try:
        request_body = by_index.model_validate_json(body)
    except ValidationError as error:
        expected = 'expected JSON {"from": {"dataset_index": i}, "to": {"dataset_index": j}, ...}'
        raise InputError(f"{expected}: {describe_errors(error.errors())}") from error
    dumped = request_body.model_dump(by_alias=True)
    start, end = [await _dataset_image(service, name, dumped[name]["dataset_index"]) for name in PAIR_ENDS]
    return ImagePair((start, end), params.model_validate({k: v for k, v in dumped.items() if k not in PAIR_ENDS}))


async def _dataset_image(service: ModelService, end: str, index: int) -> torch.Tensor:
    """Dataset image ``index`` as ``end`` of a pair; a refusal names the end."""
    try:
        return await run_in_threadpool(service.dataset_images, [index])
    except InputError as error:
        raise InputError(f"'{end}': {error}") from error
