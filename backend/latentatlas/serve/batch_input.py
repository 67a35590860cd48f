"""The images of a batch request, as a FastAPI dependency: a multipart body with several files in
fields named ``images`` (at most ``max_batch_images``; all together within the upload limit, which
serve.bodies enforces), each decoded safely as one upload is (:mod:`latentatlas.serve.images`). A
refusal names the file that caused it and keeps its status (413, 415, 422)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from latentatlas.config import Settings
from latentatlas.errors import ImageInputError, InputError
from latentatlas.serve.deps import get_service, get_settings, replay
from latentatlas.serve.images import decode_upload
from latentatlas.serve.services.core import ModelService

BATCH_FIELD = "images"


@dataclass
class ImageBatch:
    """The decoded images (N, C, S, S) and each file's name, in the order sent."""

    images: torch.Tensor
    names: list[str]


def batch_body() -> dict:
    """OpenAPI request body: multipart with several files in ``images``."""
    files = {"type": "array", "items": {"type": "string", "format": "binary"}}
    schema = {"type": "object", "required": [BATCH_FIELD], "properties": {BATCH_FIELD: files}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


async def image_batch(
    request: Request,
    service: Annotated[ModelService, Depends(get_service)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> ImageBatch:
    """Read and decode every file of a batch request (see the module docstring)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ImageInputError(415, f"send multipart/form-data with one or more files in fields named '{BATCH_FIELD}'")
    limit = settings.max_batch_images
    body = await request.body()
    try:
        form = await MultiPartParser(request.headers, replay(body), max_files=limit + 1, max_fields=4).parse()
    except MultiPartException as error:
        raise InputError(f"malformed multipart body (or more than {limit} files): {error.message}") from error
    uploads = form.getlist(BATCH_FIELD)
    if not uploads:
        raise InputError(f"multipart body needs at least one file in a field named '{BATCH_FIELD}'")
    if len(uploads) > limit:
        raise InputError(f"{len(uploads)} files: a batch holds at most {limit}")
    net = service.config.net
    images, names = [], []
    for position, upload in enumerate(uploads, start=1):
        name = upload.filename if isinstance(upload, UploadFile) and upload.filename else f"file {position}"
        if not isinstance(upload, UploadFile):
            raise InputError(f"field '{BATCH_FIELD}' #{position} is text, not a file")
        data = await upload.read()
        try:
            image = await run_in_threadpool(
                decode_upload,
                data,
                net.channels,
                net.image_size,
                settings.max_image_pixels,
                settings.max_decoded_pixels,
            )
        except ImageInputError as error:
            raise ImageInputError(
                error.status_code, f"{name!r} (file {position} of {len(uploads)}): {error}"
            ) from error
        images.append(image)
        names.append(name)
    return ImageBatch(torch.cat(images), names)
