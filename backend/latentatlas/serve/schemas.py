"""Request and response bodies of the HTTP and WebSocket API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Latent = Annotated[list[FiniteFloat], Field(min_length=1, max_length=4096)]


class ModelMetrics(BaseModel):
    """A model's disentanglement metrics, as ``latentatlas evaluate`` or a metrics job
    wrote them into its card (``latentatlas.train.evaluation.evaluate_model``)."""

    values: dict[str, float | dict[str, int | float]] = Field(
        description="mig, dci, dci_fast, sap, sap_continuous, modularity, explicitness_train/test, infomec, "
        "factor_vae, factor_vae_corrected, beta_vae"
    )
    matrices: dict[str, list[list[int]] | list[list[float]] | list[bool]] = Field(
        description="infomec_nmi (K x D), infomec_active (D), dci_importance (D x K), mig_mutual_info (D x K, nats), "
        "factor_vae_votes (K x D)"
    )
    factor_names: list[str]
    latent_dim: int
    samples: int = Field(description="factor samples rendered and encoded; the first train_rows are the train split")
    train_rows: int
    seed: int
    infomec_latents: Literal["codes", "values"] = Field(description="codes: InfoMEC's discrete plug-in estimator")
    votes: dict[str, int] = Field(description="FactorVAE / BetaVAE votes: train, eval, batch_size")
    seconds: dict[str, float]
    device: str
    created: str


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
    metrics: ModelMetrics | None = Field(None, description="disentanglement metrics from the card, once computed")


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


class MetricsRequest(BaseModel):
    """How much work a metrics job does (defaults: those of ``latentatlas evaluate``)."""

    model_config = ConfigDict(extra="forbid")
    samples: int = Field(10_000, ge=30, le=100_000, description="factor samples (2/3 train, 1/3 test)")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    train_votes: int = Field(500, ge=1, le=10_000, description="FactorVAE/BetaVAE training votes (reference: 10,000)")
    eval_votes: int = Field(250, ge=1, le=5_000, description="FactorVAE/BetaVAE evaluation votes (reference: 5,000)")


JobState = Literal["queued", "running", "done", "failed"]


class JobStarted(BaseModel):
    job_id: str
    status: JobState
    joined: bool = Field(description="true when the model already had a job running: this is that job")


class JobInfo(BaseModel):
    job_id: str
    model_id: str
    status: JobState
    progress: float = Field(ge=0, le=1)
    stage: str = Field(description="what the job is doing now")
    result: ModelMetrics | None = Field(None, description="when done: the metrics, also written to the model's card")
    error: str | None = Field(None, description="when failed: why")
