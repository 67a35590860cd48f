"""Request and response bodies of the HTTP and WebSocket API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Latent = Annotated[list[FiniteFloat], Field(min_length=1, max_length=4096)]


class ModelInfo(BaseModel):
    id: str
    kind: str
    dataset: str
    dataset_size: int | None
    image_size: int
    channels: int
    latent_dim: int
    factor_names: list[str]
    factor_sizes: list[int]
    codebooks: list[list[float]] | None = Field(None, description="QLAE: each dimension's codebook values")
    latent_mean: list[float]
    latent_std: list[float]
    latent_min: list[float]
    latent_max: list[float]
    posterior_scale: list[float] | None = Field(None, description="VAEs: mean posterior sd per dimension")
    heldout: dict[str, float | int]
    steps: int | None


class ModelDetail(ModelInfo):
    curves: dict[str, list[float]]
    card: dict


class ModelList(BaseModel):
    models: list[ModelInfo]


class EncodeByIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_index: int = Field(ge=0)


class EncodeResponse(BaseModel):
    latent: list[float]
    codes: list[int] | None = Field(None, description="QLAE: code index per dimension")
    scale: list[float] | None = Field(None, description="VAEs: posterior sd per dimension")
    input: str = Field(description="the image as the model sees it (PNG data URL)")
    reconstruction: str = Field(description="PNG data URL")


class DecodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latent: Latent


class TraverseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latent: Latent
    dims: list[int] | None = Field(None, max_length=4096, description="default: every dimension")
    steps: int = Field(11, ge=2, le=64, description="columns for continuous latents (QLAE rows use the codebook)")


class TraverseResponse(BaseModel):
    image: str = Field(description="PNG data URL: rows = dims, columns = steps, tiles without gaps")
    dims: list[int]
    values: list[list[float]]
    steps: int
    tile: int


class Sample(BaseModel):
    index: int
    factors: dict[str, float]
    factor_indices: list[int]
    image: str


class SampleList(BaseModel):
    samples: list[Sample]


class LiveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latent: Latent
    seq: int | None = None
