"""Bodies of /interpolate: a straight path in latent space between two images, decoded."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MIN_STEPS, MAX_STEPS = 2, 64


class InterpolateParams(BaseModel):
    """The path's parameters (JSON fields, or form fields beside the uploads)."""

    model_config = ConfigDict(extra="forbid")
    steps: int = Field(8, ge=MIN_STEPS, le=MAX_STEPS, description="frames, both ends included")


class DatasetImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_index: int = Field(ge=0, description="an image of the model's dataset")


class InterpolateByIndex(InterpolateParams):
    """JSON: both ends as dataset images (uploads go as multipart: ``from`` and ``to`` each a file
    or a dataset index, ``steps`` a form field)."""

    start: DatasetImage = Field(alias="from")
    end: DatasetImage = Field(alias="to")


class InterpolateResponse(BaseModel):
    frames: list[str] = Field(description="PNG data URLs, one per step, from the first image's latent to the second's")
    latents: list[list[float]] = Field(
        description="the latent of each frame: (1 - t) z_from + t z_to, t = i / (steps - 1); models with codes: "
        "each value snapped to its dim's codebook"
    )
    steps: int
    decoder: Literal["model", "probe"] = Field(
        description="what rendered the frames: the model's own decoder, or its probe decoder (models without one)"
    )
    label: str | None = Field(
        None, description="probe decoder: 'probe decoder, held-out PSNR X dB: not the model's own'; else null"
    )
