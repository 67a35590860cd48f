"""/api/models/{id}/probe-decode and /probe-traverse: latents rendered by the model's probe
decoder (the ``probe_decoder`` capability), every reply labelled as not the model's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from latentatlas.serve.deps import AppSettings, model_part
from latentatlas.serve.schemas import DecodeRequest, ProbeDecodeResponse, ProbeTraverseResponse, TraverseRequest, errors
from latentatlas.serve.services.probe import ProbeDecoderService

router = APIRouter(prefix="/api/models", tags=["probe decoder"], responses=errors(400, 404, 409, 422, 503))


Probe = Annotated[ProbeDecoderService, Depends(model_part(ProbeDecoderService))]


@router.post("/{model_id}/probe-decode", response_model=ProbeDecodeResponse)
def probe_decode(body: DecodeRequest, probe: Probe) -> ProbeDecodeResponse:
    """The latent rendered by the probe decoder (trained on the frozen latents; not the model's
    own), with its label and held-out PSNR. 409 for a model without a probe decoder."""
    return probe.decode(body.latent)


@router.post("/{model_id}/probe-traverse", response_model=ProbeTraverseResponse)
def probe_traverse(body: TraverseRequest, probe: Probe, settings: AppSettings) -> ProbeTraverseResponse:
    """/traverse's grid rendered by the probe decoder, with its label. 409 without a probe decoder."""
    return probe.traverse(body.latent, body.dims, body.steps, settings.max_decode_batch)
