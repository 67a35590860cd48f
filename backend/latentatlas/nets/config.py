"""Typed model configuration, stored as ``config.json`` beside each model's weights."""

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


class ModelConfig(BaseModel):
    """One latent model: its family, latent size and family-specific hyper-parameters."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["qlae", "ae", "vae", "tcvae"]
    latent_dim: int = Field(ge=1, le=512)
    net: NetConfig = NetConfig()
    # QLAE (Hsu et al. 2023): per-dimension scalar codebooks.
    codebook_size: int = Field(10, ge=2, le=256)
    quantize_weight: float = 0.01
    commit_weight: float = 0.01
    quantize_warmup: int = Field(500, ge=0)
    # beta-VAE (Higgins et al. 2017): KL weight; beta-TCVAE (Chen et al. 2018): TC weight.
    beta: float = Field(1.0, ge=0)
    # The training set's size (recorded by ``train``; beta-TCVAE's TC estimator needs it).
    dataset_size: int | None = Field(None, ge=1)
