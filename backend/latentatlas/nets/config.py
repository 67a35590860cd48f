"""The shared conv networks' geometry (each family's own config lives in its module)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NetConfig(BaseModel):
    """The shared encoder/decoder: image geometry and layer widths (coarse to fine)."""

    model_config = ConfigDict(frozen=True)

    image_size: int = Field(64, ge=8)
    channels: Literal[1, 3] = 1
    widths: tuple[int, ...] = (32, 64, 64, 128)
    hidden: int = Field(256, ge=1)
