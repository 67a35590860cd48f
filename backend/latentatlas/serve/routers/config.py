"""/api/config: the limits and constants the app needs before it asks for anything, read from the
server's own settings and request declarations, so that the client never hard-codes them."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from latentatlas.config import Settings
from latentatlas.serve.deps import get_settings
from latentatlas.serve.images import ACCEPTED_FORMATS
from latentatlas.serve.schemas import GenerateRequest, TraverseRequest

router = APIRouter(prefix="/api/config", tags=["config"])

MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class Bounds(BaseModel):
    """An integer parameter's accepted range and default."""

    min: int
    max: int
    default: int


class ClientConfig(BaseModel):
    """What the app checks before sending (the server checks again)."""

    max_upload_bytes: int = Field(description="largest accepted upload (413 above)")
    max_image_pixels: int = Field(description="largest accepted width x height of an upload")
    max_decoded_pixels: int = Field(description="largest width x height of a PNG, WebP or GIF upload")
    max_decode_batch: int = Field(description="most images one request may decode (traversals, samples)")
    max_batch_images: int = Field(description="most files one batch encode (/encode-batch) may carry")
    accepted_image_types: list[str] = Field(description="media types of the accepted uploads")
    traverse_steps: Bounds = Field(description="POST /traverse `steps`")
    generate_n: Bounds = Field(description="POST /generate `n`")
    samples_n: Bounds = Field(description="GET /samples `n`")
    population_n: Bounds = Field(description="GET /population `n`")


def _bounds(metadata: list[Any], default: Any) -> Bounds:
    """The ge/le constraints of a field's metadata, and its default."""
    low: Any = next(m.ge for m in metadata if isinstance(m, Ge))
    high: Any = next(m.le for m in metadata if isinstance(m, Le))
    return Bounds(min=int(low), max=int(high), default=default)


def _field_bounds(model: type[BaseModel], name: str) -> Bounds:
    field = model.model_fields[name]
    return _bounds(field.metadata, field.default)


def _query_bounds(request: Request, path: str, name: str) -> Bounds:
    """The bounds the GET route ``path`` declares for its query parameter ``name``, read from the
    app's OpenAPI schema (the route's declaration is the one truth)."""
    for param in request.app.openapi()["paths"][path]["get"]["parameters"]:
        if param["name"] == name and param["in"] == "query":
            schema = param["schema"]
            return Bounds(min=schema["minimum"], max=schema["maximum"], default=schema["default"])
    raise LookupError(f"GET {path} has no query parameter {name!r}")


@router.get("", response_model=ClientConfig)
def client_config(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> ClientConfig:
    """The server's limits: upload size and pixels, decode batch, and the ranges of the parameters the app sets."""
    return ClientConfig(
        max_upload_bytes=settings.max_upload_bytes,
        max_image_pixels=settings.max_image_pixels,
        max_decoded_pixels=settings.max_decoded_pixels,
        max_decode_batch=settings.max_decode_batch,
        max_batch_images=settings.max_batch_images,
        accepted_image_types=[MEDIA_TYPES[name] for name in ACCEPTED_FORMATS],
        traverse_steps=_field_bounds(TraverseRequest, "steps"),
        generate_n=_field_bounds(GenerateRequest, "n"),
        samples_n=_query_bounds(request, "/api/models/{model_id}/samples", "n"),
        population_n=_query_bounds(request, "/api/models/{model_id}/population", "n"),
    )
