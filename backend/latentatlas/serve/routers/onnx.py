"""/api/models/{id}/onnx: the model's decoder and encoder as ONNX graphs, for the app to decode
in the browser (ONNX Runtime Web). Exported on first request and cached on disk, keyed by the
weights' SHA-256 (``latentatlas export-onnx`` does it ahead of time)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from latentatlas.errors import UnsupportedError
from latentatlas.export.onnx import OnnxCache
from latentatlas.serve.browser import cached_export, onnx_manifest
from latentatlas.serve.deps import get_service
from latentatlas.serve.schemas import OnnxManifest, errors
from latentatlas.serve.services.core import ModelService

router = APIRouter(prefix="/api/models", tags=["browser decoding"], responses=errors(400, 404, 422))
Service = Annotated[ModelService, Depends(get_service)]


def get_onnx_cache(request: Request) -> OnnxCache:
    return request.app.state.onnx


Cache = Annotated[OnnxCache, Depends(get_onnx_cache)]


@router.get("/{model_id}/onnx", response_model=OnnxManifest)
async def manifest(service: Service, cache: Cache) -> OnnxManifest:
    """The model's ONNX graphs (exported now if not cached: seconds, once per model) with their
    URLs and measured agreement with torch, or why they are not available."""
    export = await run_in_threadpool(cached_export, service, cache)
    return onnx_manifest(
        service, export, lambda part, sha256: f"/api/models/{service.id}/onnx/{part}.onnx?v={sha256[:16]}"
    )


@router.get(
    "/{model_id}/onnx/{part}.onnx",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        304: {"description": "not modified (If-None-Match)"},
        **errors(409),
    },
)
async def onnx_file(part: Literal["decoder", "encoder"], request: Request, service: Service, cache: Cache) -> Response:
    """One ONNX graph; strong ETag (its SHA-256) and immutable caching."""
    export = await run_in_threadpool(cached_export, service, cache)
    if part not in export.parts:
        raise UnsupportedError(
            f"model {service.id}'s {part} is not available as ONNX: {export.unavailable.get(part, 'not exported')}"
        )
    etag = f'"{export.parts[part].sha256}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(cache.file(export, part), media_type="application/octet-stream", headers=headers)
