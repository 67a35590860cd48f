"""What the browser needs to decode a model itself: its ONNX manifest (graphs, their measured
agreement with torch, and the traversal sweeps), for the live app and the static site alike."""

from __future__ import annotations

from collections.abc import Callable

from latentatlas.export.onnx import OnnxExport
from latentatlas.serve.registry import ModelService
from latentatlas.serve.schemas import OnnxManifest, OnnxPartLink

MAX_SWEEPS = 64
"""The manifest's traversal sweeps cover this many leading dims (a flow's latent is its image's size)."""


def onnx_manifest(service: ModelService, export: OnnxExport, url_for: Callable[[str, str], str]) -> OnnxManifest:
    """The manifest of ``export`` for ``service``'s model; ``url_for(part, sha256)`` -> the
    part's URL (the API's, or a path inside a static site)."""
    parts = {name: OnnxPartLink(url=url_for(name, part.sha256), **part.model_dump(exclude={"file"})) for name, part in export.parts.items()}
    return OnnxManifest(
        model_id=service.id, available="decoder" in parts, opset=export.opset, latent_dim=export.latent_dim,
        image_shape=export.image_shape, parts=parts, unavailable=export.unavailable,
        truncate_by_zeroing=service.capabilities.ordered,
        sweeps=[service.sweep(d) for d in range(min(service.config.latent_dim, MAX_SWEEPS))],
    )
