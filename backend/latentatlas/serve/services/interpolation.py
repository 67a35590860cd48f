"""Interpolation between two images: both encoded, the straight line between their latents
(:mod:`latentatlas.evaluation.interpolation`; models with codes snap every point to the
codebooks), decoded by the model, or by its probe decoder when it has no decoder of its own;
as data URLs with the latents, or as an animated GIF."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentatlas.errors import UnsupportedError
from latentatlas.evaluation.interpolation import interpolate_linear, snap_to_codebooks
from latentatlas.imaging import to_data_url, to_png, traversal_gif
from latentatlas.serve.schemas import InterpolateResponse
from latentatlas.serve.services.core import ModelService
from latentatlas.serve.services.exports import EXPORT_MIN_TILE
from latentatlas.serve.services.probe import ProbeDecoderService
from latentatlas.store.probe_decoder import probe_label


@dataclass
class Interpolation:
    """The path's latents (steps, D), their images (steps, C, S, S) and what rendered them."""

    latents: np.ndarray
    images: torch.Tensor
    probe_label: str | None  # None: the model's own decoder


def interpolate(core: ModelService, start: torch.Tensor, end: torch.Tensor, steps: int) -> Interpolation:
    """Encode ``start`` and ``end`` (each (1, C, S, S)) in one batch, take ``steps`` evenly spaced
    latents from the first's to the second's (snapped to the codebooks for models with discrete
    codes, so that every frame is a latent the model can hold) and decode them: with the model's
    decoder, else its probe decoder (labelled as such), else UnsupportedError (409) saying why."""
    core.require("encode", "interpolate between images")
    if not (core.capabilities.decode or core.capabilities.probe_decoder):
        raise UnsupportedError(
            f"model {core.id} ({core.config.kind}) cannot render an interpolation: it has no decoder and no probe "
            f"decoder (train one: latentatlas probe-decoder MODEL; see `capabilities` in /api/models)"
        )
    with torch.inference_mode(), core.inference():
        ends = core.model.encode(torch.cat([start, end]).to(core.device)).latent.double().cpu().numpy()
    path = interpolate_linear(ends[0], ends[1], steps)
    if core.capabilities.codes and core.codebooks is not None:
        path = snap_to_codebooks(path, core.codebooks)
    latents = torch.from_numpy(path).float().to(core.device)
    if core.capabilities.decode:
        return Interpolation(path, core.decode(latents), None)
    images, section = ProbeDecoderService.of(core).render(latents)
    return Interpolation(path, images, probe_label(section))


def interpolation_response(path: Interpolation) -> InterpolateResponse:
    return InterpolateResponse(
        frames=[to_data_url(to_png(image)) for image in path.images],
        latents=np.round(path.latents, 6).tolist(),
        steps=len(path.latents),
        decoder="model" if path.probe_label is None else "probe",
        label=path.probe_label,
    )


def interpolation_gif(path: Interpolation, tile: int) -> bytes:
    """The frames as a looping animated GIF, one frame per step labelled "k/n" (the probe
    decoder's frames labelled as its), tiles upscaled to at least EXPORT_MIN_TILE pixels."""
    steps = len(path.latents)
    row = "probe decoder" if path.probe_label is not None else "interpolation"
    labels = [f"{k + 1}/{steps}" for k in range(steps)]
    return traversal_gif(path.images, 1, [row], labels, "step", -(-EXPORT_MIN_TILE // tile))
