"""Bodies of the core model endpoints: list and describe (with the card's metrics), encode, decode, traverse,
generate, dataset samples, and the live WebSocket's messages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from latentatlas.families.configs import Capabilities
from latentatlas.serve.schemas.common import Latent


class MetricBaselines(BaseModel):
    """What each score must beat and can reach on the card's own samples (flat names such as
    ``infomec.infom``, ``mig``, ``explicitness_test``)."""

    metrics: list[str] = Field(
        description="the metrics that have baselines (cards evaluated before 2026-12-02 lack exact DCI's, FactorVAE's and BetaVAE's)"
    )
    null: str = Field(description="how the null was drawn, e.g. 'shuffled rows, 3 permutations'")
    infomec_latents: Literal["codes", "values"] = Field(
        "values",
        description="whose estimator the infomec.* null and ceiling are: codes, the discrete plug-in one on the code "
        "indices (perfect codes for the ceiling), as the card's InfoMEC",
    )
    null_mean: dict[str, float] = Field(
        description="mean score of the model's latents with their rows permuted against the factors (FactorVAE / BetaVAE: each latent row drawn from the model's own, independently of the factors)"
    )
    null_sd: dict[str, float]
    ceiling: dict[str, float] = Field(
        description="score of perfect latents (one per factor, its value) on the same samples"
    )


MetricValues = dict[str, float | dict[str, int | float | dict[str, float | list[int]]]]
"""A card's scalar metrics: a score (mig), a group of them (infomec.infom), or a group with
nested subsets (med.top1 = {disentanglement, completeness, dims})."""


class ModelMetrics(BaseModel):
    """A model's disentanglement metrics, as ``latentatlas evaluate`` or a metrics job
    wrote them into its card (``latentatlas.evaluation.disentanglement.evaluate_model``)."""

    values: MetricValues = Field(
        description="mig, dci, dci_fast, sap, sap_continuous, modularity, explicitness_train/test, infomec, "
        "factor_vae, factor_vae_corrected, beta_vae, med (with top-k MED: med.top<k> = {disentanglement, "
        "completeness, dims})"
    )
    matrices: dict[str, list[list[int]] | list[list[float]] | list[bool]] = Field(
        description="infomec_nmi (K x D), infomec_active (D), dci_importance (D x K), mig_mutual_info (D x K, nats), "
        "factor_vae_votes (K x D)"
    )
    factor_names: list[str]
    latent_dim: int = Field(description="latents scored (an ordered model's top ones)")
    left_out: list[str] = Field([], description="catalogue metrics not computed (evaluate --leave-out)")
    latents_scored: str = Field("all", description='"all", or e.g. "the top 10 of 1024 ordered latents" (EOFlow)')
    samples: int = Field(description="factor samples rendered and encoded; the first train_rows are the train split")
    train_rows: int
    seed: int
    infomec_latents: Literal["codes", "values"] = Field(description="codes: InfoMEC's discrete plug-in estimator")
    votes: dict[str, int] = Field(description="FactorVAE / BetaVAE votes: train, eval, batch_size")
    baselines: MetricBaselines | None = Field(
        None, description="the null and ceiling beside each score (cards evaluated since they were added)"
    )
    seconds: dict[str, float]
    device: str
    created: str


class DimName(BaseModel):
    """A latent dim named after the generative factor it shares the most information with."""

    factor: str
    nmi: float = Field(description="InfoMEC's normalised mutual information between the dim and that factor")


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
    codebooks: list[list[float]] | None = Field(None, description="models with codes: each dimension's codebook values")
    latent_mean: list[float]
    latent_std: list[float]
    latent_min: list[float]
    latent_max: list[float]
    posterior_scale: list[float] | None = Field(
        None, description="models with a posterior: mean posterior sd per dimension"
    )
    heldout: dict[str, float | int]
    steps: int | None
    metrics: ModelMetrics | None = Field(None, description="disentanglement metrics from the card, once computed")
    dim_names: list[DimName | None] | None = Field(
        None,
        description="per latent dim (of those the metrics cover): its best factor by NMI, named only when the NMI reaches "
        "dim_name_threshold and the dim is active; null entries are unnamed; null when the card has no metrics",
    )
    dim_name_threshold: float = Field(description="the least NMI a dim needs to be named after a factor")
    dim_inactive: list[bool] | None = Field(
        None,
        description="models with a posterior: per dim, collapsed to the prior (mean posterior sd >= collapsed_posterior_sd)",
    )
    collapsed_posterior_sd: float = Field(
        description="the mean posterior sd from which a dim counts as collapsed (inactive)"
    )
    family: str = Field(description="the model family in a line")
    capabilities: Capabilities = Field(
        description="what the model can do; endpoints and app panels follow these: ordered -> /truncate, /denoise, "
        "/entropy; sample -> /generate; codes -> codebooks; posterior -> posterior_scale"
    )
    ensemble: str | None = Field(None, description="the ensemble this model is a member of (its id is ENSEMBLE.MEMBER)")
    truncation_fill: float | None = Field(
        None,
        description="models with ordered latents: top-C decoding (/truncate, /denoise) decodes the latent with its "
        "first C entries kept and every later entry set to this value (the prior's mode, 0 for EOFlow's standard "
        "normal base), so a client can truncate a latent itself; null for other models",
    )
    traverse_dims: list[int] = Field(
        description="the dims a traversal shows unless asked for others (at most 16): every dim of a small latent, "
        "an ordered model's leading ones, else the most variable ones (largest latent sd)"
    )
    keep_grid: list[int] | None = Field(
        None,
        description="models with ordered latents: the numbers of top latents C a slider offers (240 log-spaced "
        "values round(latent_dim^(i / 239)), those of curve_keep_grid, and the C values of the card's truncation "
        "curve); null for other models",
    )
    curve_keep_grid: list[int] | None = Field(
        None,
        description="models with ordered latents: the C values of a PSNR-against-C curve (16 log-spaced, 1 and "
        "latent_dim included); null for other models",
    )


class HeldOutCurves(BaseModel):
    """Another model's held-out top-C curves (its card's ``flow`` section) on the same data."""

    id: str
    differs: str = Field(description="how its config differs from this model's, e.g. 'lambda_mtc 0 (here 0.5)'")
    bits_per_dim: float | None
    truncation: dict = Field(description="card flow.truncation: keep, psnr (and PCA's pca_psnr)")
    denoise: dict = Field(description="card flow.denoise: sigma, keep, psnr, best_keep, gain_db")


class ModelDetail(ModelInfo):
    curves: dict[str, list[float]]
    card: dict
    peers: list[HeldOutCurves] = Field(
        default_factory=list,
        description="models with ordered latents: the other served ones on the same data (dataset, size, channels) "
        "whose cards hold held-out curves on the same images, to draw beside this one's (e.g. an ablation)",
    )


class ModelList(BaseModel):
    models: list[ModelInfo]
    generation: int = Field(
        description="grows by one at every change to the served models (a folder added, changed or removed)"
    )
    changed_at: datetime = Field(description="when the served models last changed (UTC)")


class EncodeByIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_index: int = Field(ge=0)


class InputContext(BaseModel):
    """How an input compares with the model's held-out data (its card)."""

    psnr_db: float | None = Field(description="PSNR of the reconstruction against the input (None: no decoder)")
    heldout_psnr_db: float | None = Field(None, description="the model's mean PSNR on its held-out images (its card)")
    bits_per_dim: float | None = Field(None, description="models with a likelihood: the input's bits per dimension")
    heldout_bits_per_dim: float | None = Field(
        None, description="models with a likelihood: on held-out images (its card)"
    )
    far_from_training: bool = Field(
        description="the input reconstructs (or is as likely) far worse than the training data"
    )
    context: str = Field(description="one line: what the model was trained on and how this input compares")


class EncodeResponse(InputContext):
    latent: list[float]
    codes: list[int] | None = Field(None, description="QLAE: code index per dimension")
    scale: list[float] | None = Field(None, description="VAEs: posterior sd per dimension")
    input: str = Field(description="the image as the model sees it (PNG data URL)")
    reconstruction: str | None = Field(description="PNG data URL (None: the model has no decoder)")


class DecodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latent: Latent


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(1, ge=1, le=64, description="how many latents to draw from the prior")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seeds the draw (the same seed gives the same latents)")


class Generated(BaseModel):
    latent: list[float]
    image: str = Field(description="the latent decoded (PNG data URL)")


class GenerateResponse(BaseModel):
    samples: list[Generated]
    seed: int


class TraverseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latent: Latent
    dims: list[int] | None = Field(
        None,
        max_length=4096,
        description="default: the model's traverse_dims (every dimension of a small latent, the 16 most important "
        "of an ordered flow, else the 16 most variable), fewer if that many rows would exceed the decode limit",
    )
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
