"""Files for papers: a traversal as a labelled PNG sheet or an animated GIF, and the card's
metric matrices as tables (JSON, or one CSV)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence

import numpy as np

from latentatlas.errors import InputError, UnsupportedError
from latentatlas.imaging import labelled_sheet, sheet_png, traversal_gif
from latentatlas.serve.schemas import MetricTables
from latentatlas.serve.services.core import SWEEP_SD, ModelService

log = logging.getLogger("latentatlas.serve")

# Exported traversals: small tiles are upscaled to at least EXPORT_MIN_TILE pixels (by default),
# and no export is larger than EXPORT_MAX_PIXELS tile pixels (about 48 MB as RGB).
EXPORT_MIN_TILE = 64
EXPORT_MAX_PIXELS = 16_000_000

# Metric matrices the card stores dims x factors (the others are factors x dims).
DIMS_BY_FACTORS = frozenset({"dci_importance", "mig_mutual_info"})


def dim_labels(service: ModelService, dims: list[int]) -> list[str]:
    """Row labels: ``z3 · posX (NMI 0.62)`` where the server names the dim, else ``z3``."""
    names = service.description.dim_names() or []
    return [
        f"z{d} · {name.factor} (NMI {name.nmi:.2f})" if d < len(names) and (name := names[d]) else f"z{d}" for d in dims
    ]


def traverse_export(
    service: ModelService,
    latent: list[float],
    dims: list[int] | None,
    steps: int,
    max_batch: int,
    fmt: str,
    scale: int | None,
) -> bytes:
    """The traversal as a labelled PNG sheet (rows = dims, columns = steps) or an animated GIF
    (frame k = every dim at its k-th step; :func:`latentatlas.imaging.traversal_gif`). Columns
    are labelled k of mean + k sd (continuous latents) or the code's rank (codebooks); tiles
    are upscaled ``scale`` times (default: to at least EXPORT_MIN_TILE pixels)."""
    base, dims, values = service.traversal_plan(latent, dims, steps, max_batch)
    tile, columns = service.config.net.image_size, len(values[0])
    scale = scale or -(-EXPORT_MIN_TILE // tile)
    pixels = len(dims) * columns * (tile * scale) ** 2
    if pixels > EXPORT_MAX_PIXELS:
        raise InputError(
            f"{len(dims)} x {columns} tiles of {tile * scale} pixels = {pixels:,} pixels; the limit is "
            f"{EXPORT_MAX_PIXELS:,}: ask for a smaller scale, fewer dims or fewer steps"
        )
    if service.codebooks is not None:
        corner, steps_labels = "code (sorted)", [str(c + 1) for c in range(columns)]
    else:
        offsets = np.linspace(-SWEEP_SD, SWEEP_SD, columns)
        corner, steps_labels = "mean + k sd", ["0" if round(k, 1) == 0 else f"{k:+.1f}" for k in offsets]
    images = service.decode_traversal(base, dims, values)
    labels = dim_labels(service, dims)
    if fmt == "gif":
        return traversal_gif(images, len(dims), labels, steps_labels, corner, scale)
    return sheet_png(labelled_sheet(images, len(dims), labels, steps_labels, corner, scale))


def metric_tables(service: ModelService) -> MetricTables:
    """The card's metric matrices, each factors x dims (dci_importance and mig_mutual_info,
    stored dims x factors, transposed), with the factor names and dim names; UnsupportedError
    (409) when the card has no metrics."""
    metrics = service.description.metrics()
    if metrics is None:
        raise UnsupportedError(
            f"model {service.id} has no metrics yet: compute them in the app's metrics panel "
            f"(POST /api/models/{service.id}/metrics) or with `latentatlas evaluate`"
        )
    factors, dims = len(metrics.factor_names), metrics.latent_dim
    matrices: dict[str, list[list[float]]] = {}
    for name, matrix in metrics.matrices.items():
        array = np.asarray(matrix)
        if array.ndim != 2:
            continue  # infomec_active: a vector, served as ``active``
        if name in DIMS_BY_FACTORS:
            array = array.T
        if array.shape != (factors, dims):
            log.warning(
                "model %s: the card's %s is %s, not %d x %d; left out of the export",
                service.id,
                name,
                array.shape,
                factors,
                dims,
            )
            continue
        matrices[name] = array.tolist()
    active = metrics.matrices.get("infomec_active")
    return MetricTables(
        model_id=service.id,
        factor_names=metrics.factor_names,
        dims=[f"z{d}" for d in range(dims)],
        dim_names=(service.description.dim_names() or [None] * dims)[:dims],
        active=[bool(a) for a in active] if active is not None and len(active) == dims else None,
        latents_scored=metrics.latents_scored,
        matrices=matrices,
        values=metrics.values,
    )


def metrics_csv(tables: MetricTables) -> str:
    """The metric matrices as one CSV: header ``matrix,factor,z0,...,z{D-1}``, then each matrix's
    K factor rows, and ``infomec_active,,1,0,...`` (1: an active dim) when the card has it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["matrix", "factor", *tables.dims])
    for name, matrix in tables.matrices.items():
        rows: Sequence[Sequence[float]] = matrix  # int (votes) or float rows alike
        for factor, row in zip(tables.factor_names, rows):
            writer.writerow([name, factor, *row])
    if tables.active is not None:
        writer.writerow(["infomec_active", "", *(int(a) for a in tables.active)])
    return out.getvalue()
