"""Typed model configuration, stored as ``config.json`` beside each model's weights."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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

    kind: Literal["qlae", "ae", "vae", "tcvae", "eoflow"]
    latent_dim: int = Field(ge=1, le=16_384)
    net: NetConfig = NetConfig()
    # QLAE (Hsu et al. 2023): per-dimension scalar codebooks.
    codebook_size: int = Field(10, ge=2, le=256)
    quantize_weight: float = 0.01
    commit_weight: float = 0.01
    quantize_warmup: int = Field(500, ge=0)
    # beta-VAE (Higgins et al. 2017): KL weight; beta-TCVAE (Chen et al. 2018): TC weight and
    # its minibatch estimator (stratified "mss" or weighted "mws" sampling).
    beta: float = Field(1.0, ge=0)
    tc_estimator: Literal["mss", "mws"] = "mss"
    # EOFlow (Galperin & Koethe 2026): flow architecture and objective. A flow is bijective,
    # so its latent_dim must be channels * image_size**2 (checked below).
    flow_levels: int = Field(2, ge=1, le=6)  # squeeze (space-to-depth) levels
    flow_blocks: int = Field(4, ge=1, le=64)  # coupling blocks per level
    flow_hidden: int = Field(64, ge=1)  # conditioner width
    flow_clamp: float = Field(2.0, gt=0)  # soft clamp of the coupling log-scales
    flow_preprocess: Literal["affine", "logit"] = "affine"
    flow_logit_alpha: float = Field(0.05, ge=0, lt=0.5)
    flow_seed: int = 0  # the fixed permutations
    flow_principal: bool = True  # end with a principal rotation + per-latent ActNorm fitted to data (top-C = PCA at start)
    lambda_mtc: float = Field(0.5, ge=0, le=1)  # weight of the MTC (orthogonality) term; 1 = principal-component flow
    noise_sigma: float = Field(0.05, ge=0)  # noise augmentation, added after the pre-processing
    core_size: int = Field(16, ge=0)  # C of the optional top-C reconstruction term
    recon_weight: float = Field(0.0, ge=0)  # its weight (0: off)
    # The training set's size (recorded by ``train``; beta-TCVAE's TC estimator needs it).
    dataset_size: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _flow_latent_is_the_image(self) -> ModelConfig:
        pixels = self.net.channels * self.net.image_size**2
        if self.kind == "eoflow" and self.latent_dim != pixels:
            raise ValueError(f"an EOFlow's latent_dim is channels x image_size^2 = {pixels}, got {self.latent_dim}")
        return self
