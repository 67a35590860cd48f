"""Bodies of the ordered-latent endpoints (models with `capabilities.ordered`): truncate, entropy, denoise."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _split_keep(value: object) -> object:
    """A multipart ``keep`` field ("4,16,64" or "4 16 64") as a list; JSON values pass through."""
    if isinstance(value, str):
        return list(value.replace(",", " ").split())
    return value


class TruncateParams(BaseModel):
    """What /truncate needs besides the image (JSON fields, or multipart form fields)."""

    model_config = ConfigDict(extra="forbid")
    keep: list[int] = Field(
        max_length=256,
        description="how many of the top ordered latents to keep, one C or a list (each 1..latent_dim); "
        'a multipart form field is a comma-separated list, e.g. "4,16,64"',
    )

    @field_validator("keep", mode="before")
    @classmethod
    def _keep_list(cls, value: object) -> object:
        value = _split_keep(value)
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value

    baselines: bool = Field(
        False,
        description="also project the image onto PCA's top C principal axes (the card's PCA baseline, "
        "fitted once per model on training images) and return it with its PSNR",
    )


class TruncateByIndex(TruncateParams):
    dataset_index: int = Field(ge=0)


class Baseline(BaseModel):
    """PCA's version of a result: the image projected onto the top C principal axes of training images."""

    image: str = Field(description="the projection (PNG data URL, clipped to [0, 1])")
    psnr: float = Field(description="dB against the clean input image")


class TruncateResult(BaseModel):
    keep: int
    psnr: float = Field(description="dB against the model's input image (capped at 120 dB for an exact match)")
    image: str = Field(description="the top-C decode (PNG data URL)")
    pca: Baseline | None = Field(None, description="PCA's top-C reconstruction of the image (with `baselines`)")


class TruncateResponse(BaseModel):
    input: str = Field(description="the image as the model sees it (PNG data URL)")
    latent_dim: int
    results: list[TruncateResult] = Field(description="one per requested C, in the order requested")
    pca_samples: int | None = Field(
        None, description="training images the PCA baseline was fitted on (with `baselines`)"
    )


class EntropyResponse(BaseModel):
    entropy: list[float] = Field(
        description="explained entropy (nats) per latent, in the model's order (latent 0 first)"
    )
    standard_error: list[float] = Field(
        description="standard error (nats) of each entropy, from the held-out images that estimated it"
    )
    cumulative_share: list[float] = Field(
        description="share k = sum_{i<=k} (H_i - H_min) / sum_i (H_i - H_min), H_min the smallest entropy: "
        "explained entropy is differential (it can be negative), so the share counts the entropy above the "
        "least informative latent; non-decreasing, ends at 1 (a linear ramp when all H_i are equal)"
    )
    total: float = Field(description="sum of the entropies (nats)")


class DenoiseParams(BaseModel):
    """What /denoise needs besides the image (JSON fields, or multipart form fields)."""

    model_config = ConfigDict(extra="forbid")
    sigma: float = Field(0.1, ge=0, le=1, allow_inf_nan=False, description="sd of the Gaussian noise on [0, 1] pixels")
    keep: int | None = Field(None, description="top latents kept (1..latent_dim); default max(1, latent_dim // 16)")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="for reproducible noise; default: random (returned)")
    baselines: bool = Field(
        False, description="also project the noisy image onto PCA's top `keep` principal axes (PCA's denoising)"
    )


class DenoiseByIndex(DenoiseParams):
    dataset_index: int = Field(ge=0)


class DenoiseResponse(BaseModel):
    clean: str = Field(description="the clean image as the model sees it (PNG data URL)")
    noisy: str = Field(description="clean + sigma * N(0, 1) noise, clipped to [0, 1] (PNG data URL): what is encoded")
    denoised: str = Field(description="the noisy image encoded, its top `keep` latents decoded (PNG data URL)")
    noisy_psnr: float = Field(description="dB, noisy against clean")
    denoised_psnr: float = Field(description="dB, denoised against clean")
    sigma: float
    keep: int
    seed: int
    pca: Baseline | None = Field(
        None, description="the noisy image projected onto PCA's top `keep` axes (with `baselines`)"
    )
    pca_samples: int | None = Field(
        None, description="training images the PCA baseline was fitted on (with `baselines`)"
    )
