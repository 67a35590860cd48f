"""/api/models/{id}/traverse/export and /metrics/export: files for papers (a labelled traversal
as PNG or GIF; the metric matrices as CSV or JSON), sent as attachments."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from latentatlas.config import Settings
from latentatlas.serve.deps import get_service, get_settings
from latentatlas.serve.schemas import MetricTables, TraverseExportRequest, errors
from latentatlas.serve.services import exports
from latentatlas.serve.services.core import ModelService

router = APIRouter(prefix="/api/models", tags=["exports"], responses=errors(400, 403, 404, 422, 503))
Service = Annotated[ModelService, Depends(get_service)]

_EXPORT_TYPES = {"png": "image/png", "gif": "image/gif", "csv": "text/csv; charset=utf-8", "json": "application/json"}


def _attachment(content: bytes | str, fmt: str, model_id: str, what: str) -> Response:
    """A download: the export's media type and ``Content-Disposition: attachment; filename="MODEL-WHAT.FMT"``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", model_id)
    return Response(
        content,
        media_type=_EXPORT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}-{what}.{fmt}"'},
    )


@router.post(
    "/{model_id}/traverse/export",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/gif": {}}}},
)
def traverse_export(
    body: TraverseExportRequest, service: Service, settings: Annotated[Settings, Depends(get_settings)]
) -> Response:
    """The traversal as a file for papers: ``png``, the grid with a column of dim labels (named
    after their factor where the metrics name them) and a header of step labels; ``gif``, one
    frame per step showing every dim at that step (the disentangling-vae habit)."""
    content = exports.traverse_export(
        service, body.latent, body.dims, body.steps, settings.max_decode_batch, body.format, body.scale
    )
    return _attachment(content, body.format, service.id, "traversal")


@router.get(
    "/{model_id}/metrics/export",
    response_class=Response,
    responses={200: {"model": MetricTables, "content": {"text/csv": {"schema": {"type": "string"}}}}, **errors(409)},
)
def metrics_export(
    service: Service, format: Annotated[Literal["csv", "json"], Query(description="csv or json")] = "csv"
) -> Response:
    """The card's metric matrices (factors x dims each) with factor names and dim labels: ``json``
    (MetricTables, with the scalar scores) or ``csv`` (``matrix,factor,z0,...``: K rows per
    matrix). 409 when the model has no metrics yet."""
    tables = exports.metric_tables(service)
    return _attachment(
        tables.model_dump_json(indent=1) if format == "json" else exports.metrics_csv(tables),
        format,
        service.id,
        "metrics",
    )
