"""What the browser needs to decode a model itself: its ONNX manifest (graphs, their measured
agreement with torch, and the traversal sweeps), for the live app and the static site alike."""

from __future__ import annotations

from collections.abc import Callable

from latentatlas.export.onnx import OnnxCache, OnnxExport
from latentatlas.serve.schemas import OnnxManifest, OnnxPartLink
from latentatlas.serve.services.core import ModelService

MAX_SWEEPS = 64
"""The manifest's traversal sweeps cover this many leading dims (a flow's latent is its image's size)."""


def onnx_manifest(service: ModelService, export: OnnxExport, url_for: Callable[[str, str], str]) -> OnnxManifest:
    """The manifest of ``export`` for ``service``'s model; ``url_for(part, sha256)`` -> the
    part's URL (the API's, or a path inside a static site)."""
    parts = {
        name: OnnxPartLink(url=url_for(name, part.sha256), **part.model_dump(exclude={"file"}))
        for name, part in export.parts.items()
    }
    return OnnxManifest(
        model_id=service.id,
        available="decoder" in parts,
        opset=export.opset,
        latent_dim=export.latent_dim,
        image_shape=export.image_shape,
        parts=parts,
        unavailable=export.unavailable,
        truncate_by_zeroing=service.truncation_fill == 0,
        sweeps=[service.sweep(d) for d in range(min(service.config.latent_dim, MAX_SWEEPS))],
    )


def cached_export(service: ModelService, cache: OnnxCache) -> OnnxExport:
    """The model's export, made now if not cached; a cache folder the server cannot write, or a
    model folder that no longer loads (changed on disk since start-up), leaves every part
    unavailable (the app then decodes on the server)."""
    try:
        return cache.get(service.loaded.folder)
    except Exception as error:
        net = service.config.net
        if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
            reason = f"the ONNX cache ({cache.cache_dir.name}) is not writable: {type(error).__name__}"
        else:
            reason = (
                f"the model folder no longer loads as it did at start-up (changed on disk?): {type(error).__name__}"
            )
        return OnnxExport(
            digest="",
            opset=None,
            latent_dim=service.config.latent_dim,
            image_shape=[net.channels, net.image_size, net.image_size],
            unavailable={"decoder": reason, "encoder": reason},
        )
