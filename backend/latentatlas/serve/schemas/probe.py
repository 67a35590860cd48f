"""Bodies of the probe decoder: a latent rendered by a decoder trained on the frozen latents,
always with the label that says it is not the model's own."""

from __future__ import annotations

from pydantic import BaseModel, Field

from latentatlas.serve.schemas.models import TraverseResponse

PROBE_LABEL_DESCRIPTION = "what rendered the image: 'probe decoder, held-out PSNR X dB: not the model's own'"


class ProbeDecodeResponse(BaseModel):
    image: str = Field(description="PNG data URL of the probe decoder's image")
    label: str = Field(description=PROBE_LABEL_DESCRIPTION)
    heldout_psnr_db: float = Field(description="the probe decoder's mean PSNR on held-out images (its card)")


class ProbeTraverseResponse(TraverseResponse):
    """/traverse's grid, rendered by the probe decoder."""

    label: str = Field(description=PROBE_LABEL_DESCRIPTION)
    heldout_psnr_db: float
