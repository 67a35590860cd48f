"""Request and response bodies of the HTTP and WebSocket API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from latentatlas.families.base import Capabilities
from latentatlas.serve.jobs import JobStatus as JobState

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Latent = Annotated[list[FiniteFloat], Field(min_length=1, max_length=4096)]


class ErrorDetail(BaseModel):
    """Every error response: what was wrong and what is accepted, in a sentence."""

    detail: str


_ERROR_TEXT = {
    400: "malformed request, or a Host header the server does not serve",
    403: "cross-origin write refused",
    404: "unknown model, ensemble or job",
    408: "the upload stalled",
    409: "an operation the model's capabilities (or the ensemble's state) do not allow",
    413: "upload over the size or pixel limit",
    415: "not a supported image",
    422: "invalid values: wrong latent length, NaN, out-of-range indices, a corrupt image, ...",
    429: "too many background jobs (see Retry-After)",
    503: "busy: too many requests in flight (see Retry-After), or not ready",
}


def errors(*codes: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` for these error statuses, all with the ``{"detail": "..."}`` body."""
    return {code: {"model": ErrorDetail, "description": _ERROR_TEXT[code]} for code in codes}


class MetricBaselines(BaseModel):
    """What each score must beat and can reach on the card's own samples (flat names such as
    ``infomec.infom``, ``mig``, ``explicitness_test``)."""

    metrics: list[str] = Field(description="the metrics that have baselines (cards evaluated before 2026-12-02 lack exact DCI's, FactorVAE's and BetaVAE's)")
    null: str = Field(description="how the null was drawn, e.g. 'shuffled rows, 3 permutations'")
    null_mean: dict[str, float] = Field(description="mean score of the model's latents with their rows permuted against the factors (FactorVAE / BetaVAE: each latent row drawn from the model's own, independently of the factors)")
    null_sd: dict[str, float]
    ceiling: dict[str, float] = Field(description="score of perfect latents (one per factor, its value) on the same samples")


class ModelMetrics(BaseModel):
    """A model's disentanglement metrics, as ``latentatlas evaluate`` or a metrics job
    wrote them into its card (``latentatlas.evaluation.disentanglement.evaluate_model``)."""

    values: dict[str, float | dict[str, int | float]] = Field(
        description="mig, dci, dci_fast, sap, sap_continuous, modularity, explicitness_train/test, infomec, "
        "factor_vae, factor_vae_corrected, beta_vae"
    )
    matrices: dict[str, list[list[int]] | list[list[float]] | list[bool]] = Field(
        description="infomec_nmi (K x D), infomec_active (D), dci_importance (D x K), mig_mutual_info (D x K, nats), "
        "factor_vae_votes (K x D)"
    )
    factor_names: list[str]
    latent_dim: int = Field(description="latents scored (an ordered model's top ones)")
    latents_scored: str = Field("all", description='"all", or e.g. "the top 10 of 1024 ordered latents" (EOFlow)')
    samples: int = Field(description="factor samples rendered and encoded; the first train_rows are the train split")
    train_rows: int
    seed: int
    infomec_latents: Literal["codes", "values"] = Field(description="codes: InfoMEC's discrete plug-in estimator")
    votes: dict[str, int] = Field(description="FactorVAE / BetaVAE votes: train, eval, batch_size")
    baselines: MetricBaselines | None = Field(None, description="the null and ceiling beside each score (cards evaluated since they were added)")
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
    posterior_scale: list[float] | None = Field(None, description="models with a posterior: mean posterior sd per dimension")
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
        None, description="models with a posterior: per dim, collapsed to the prior (mean posterior sd >= collapsed_posterior_sd)"
    )
    collapsed_posterior_sd: float = Field(description="the mean posterior sd from which a dim counts as collapsed (inactive)")
    family: str = Field(description="the model family in a line")
    capabilities: Capabilities = Field(
        description="what the model can do; endpoints and app panels follow these: ordered -> /truncate, /denoise, "
        "/entropy; sample -> /generate; codes -> codebooks; posterior -> posterior_scale"
    )
    ensemble: str | None = Field(None, description="the ensemble this model is a member of (its id is ENSEMBLE.MEMBER)")


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


class EncodeByIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_index: int = Field(ge=0)


class EncodeResponse(BaseModel):
    latent: list[float]
    codes: list[int] | None = Field(None, description="QLAE: code index per dimension")
    scale: list[float] | None = Field(None, description="VAEs: posterior sd per dimension")
    input: str = Field(description="the image as the model sees it (PNG data URL)")
    reconstruction: str = Field(description="PNG data URL")
    psnr_db: float = Field(description="PSNR of the reconstruction against the input as the model sees it")
    heldout_psnr_db: float | None = Field(None, description="the model's mean PSNR on its held-out images (its card)")
    bits_per_dim: float | None = Field(None, description="models with a likelihood: the input's bits per dimension")
    heldout_bits_per_dim: float | None = Field(None, description="models with a likelihood: on held-out images (its card)")
    far_from_training: bool = Field(description="the input reconstructs (or is as likely) far worse than the training data")
    context: str = Field(description="one line: what the model was trained on and how this input compares")


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
        description="default: the first min(latent_dim, 16) dimensions (every dimension of a small latent; "
        "the 16 most important of an ordered flow), fewer if that many rows would exceed the decode limit",
    )
    steps: int = Field(11, ge=2, le=64, description="columns for continuous latents (QLAE rows use the codebook)")


class TraverseResponse(BaseModel):
    image: str = Field(description="PNG data URL: rows = dims, columns = steps, tiles without gaps")
    dims: list[int]
    values: list[list[float]]
    steps: int
    tile: int


class TraverseExportRequest(TraverseRequest):
    format: Literal["png", "gif"] = Field(
        "png", description="png: the labelled grid (rows = dims, columns = steps); gif: one frame per step, every dim as a row"
    )
    scale: int | None = Field(None, ge=1, le=16, description="tile upscale (nearest neighbour); default: tiles of at least 64 pixels")


class MetricTables(BaseModel):
    """A model's metric matrices for papers, every one factors x dims (rows: ``factor_names``,
    columns: ``dims``), with the card's scalar values."""

    model_id: str
    factor_names: list[str]
    dims: list[str] = Field(description="z0 .. z{D-1}: the latents scored (an ordered model's top ones)")
    dim_names: list[DimName | None] = Field(description="per dim, the factor the server names it after (None: unnamed)")
    active: list[bool] | None = Field(None, description="InfoMEC's active dims, when the card has them")
    latents_scored: str
    matrices: dict[str, list[list[int]] | list[list[float]]] = Field(
        description="infomec_nmi, dci_importance, mig_mutual_info (nats), factor_vae_votes: K x D each"
    )
    values: dict[str, float | dict[str, int | float]] = Field(description="the scalar metrics, as in the card")


def _split_keep(value: object) -> object:
    """A multipart ``keep`` field ("4,16,64" or "4 16 64") as a list; JSON values pass through."""
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split()]
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


class TruncateByIndex(TruncateParams):
    dataset_index: int = Field(ge=0)


class TruncateResult(BaseModel):
    keep: int
    psnr: float = Field(description="dB against the model's input image (capped at 120 dB for an exact match)")
    image: str = Field(description="the top-C decode (PNG data URL)")


class TruncateResponse(BaseModel):
    input: str = Field(description="the image as the model sees it (PNG data URL)")
    latent_dim: int
    results: list[TruncateResult] = Field(description="one per requested C, in the order requested")


class EntropyResponse(BaseModel):
    entropy: list[float] = Field(description="explained entropy (nats) per latent, in the model's order (latent 0 first)")
    standard_error: list[float] = Field(description="standard error (nats) of each entropy, from the held-out images that estimated it")
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




class JobStarted(BaseModel):
    job_id: str
    status: JobState
    joined: bool = Field(description="true when the model already had a job running: this is that job")


# --- ensembles --------------------------------------------------------------------------

OptionalFloat = float | None  # NaN / undefined values are null


class EnsembleInfo(BaseModel):
    id: str
    kind: str = Field(description="the members' model kind: vae or tcvae")
    dataset: str
    latent_dim: int
    betas: list[float]
    seeds: int = Field(description="members use seeds 0 .. seeds - 1")
    member_count: int
    status_counts: dict[str, int] = Field(description="members per status: pending, running, done, failed")
    analysed: bool = Field(description="analysis.json is present and readable: /similarity and /hotspots work")
    analysed_at: str | None = None


class EnsembleList(BaseModel):
    ensembles: list[EnsembleInfo]


class EnsembleMember(BaseModel):
    name: str
    beta: float
    seed: int
    status: str
    model_id: str | None = Field(None, description="served as /api/models/{model_id} (NAME.MEMBER) when finished and loaded")
    error: str | None = None
    info_bits: list[OptionalFloat] | None = Field(None, description="when analysed: information (bits) per latent dimension")
    active: list[bool] | None = Field(None, description="when analysed: whether each dimension carries information")


class EnsembleSpaces(BaseModel):
    members: list[str] = Field(description="the analysed members, in the matrices' order")
    info_bits: list[OptionalFloat] = Field(description="I(U; X) of each member's whole latent space (bits, at most log2 of the probe size)")
    nmi: list[list[OptionalFloat]] = Field(description="members x members NMI of their whole latent spaces")
    vi: list[list[OptionalFloat]] = Field(description="members x members VI (bits)")


class EnsembleFusion(BaseModel):
    objective: str = Field(description="what the fused space maximised: mean nmi or mean exp(-VI) to the members")
    init: str = Field("member", description="the start: random (uninformative posteriors, seeded) or member")
    start_member: str | None = Field(None, description="with init member: the member the optimisation started from")
    max_steps: int | None = Field(None, description="the step budget")
    steps: int = Field(description="optimisation steps taken")
    best_step: int | None = Field(None, description="the step of the returned iterate (-1: none passed the guard)")
    converged: bool | None = Field(None, description="stopped by the tolerance before the budget ran out")
    tol: float | None = Field(None, description="early stop: the best objective gained less than tol over patience steps")
    patience: int | None = None
    seconds: float | None = Field(None, description="wall time of the optimisation")
    channels: int
    info_bits: float = Field(description="I(F; X) of the fused space (bits)")
    mean_nmi: float = Field(description="mean NMI of the fused space with every member, each clipped at 1")
    nmi_above_one: int | None = Field(None, description="members whose NMI estimate with the fused space came out above 1 (clipped in mean_nmi)")
    max_nmi: float | None = Field(None, description="the largest unclipped NMI estimate of the fused space with a member")
    mean_vi: float = Field(description="mean VI of the fused space with every member (bits)")
    best_member: str = Field(description="the member with the highest mean NMI to the other members")
    best_member_info_bits: float
    best_member_mean_nmi: float
    most_informative_member: str
    most_informative_member_info_bits: float
    history_every: int = Field(10, description="steps between recorded objective values")
    history: list[float] = Field(description="the objective every history_every optimisation steps (and at the last)")


class EnsembleDetail(EnsembleInfo):
    members: list[EnsembleMember]
    probe_size: int | None = Field(None, description="probe points (from the analysis)")
    factor_names: list[str] = Field(default_factory=list)
    skipped_members: list[dict] = Field(default_factory=list, description="members the analysis left out, with why")
    spaces: EnsembleSpaces | None = Field(None, description="when analysed: whole-latent-space information, NMI and VI between members")
    fusion: EnsembleFusion | None = Field(None, description="when analysed with fusion: the fused representation against the members")


class EnsembleChannel(BaseModel):
    index: int = Field(description="member_position * latent_dim + dim, in the analysis' member order")
    member: str
    dim: int
    beta: float
    seed: int
    info_bits: OptionalFloat
    active: bool


class EnsembleSimilarity(BaseModel):
    ensemble: str
    channels: list[EnsembleChannel] = Field(description="M = analysed members x latent_dim channels")
    nmi: list[list[OptionalFloat]] = Field(description="M x M normalised mutual information")
    vi: list[list[OptionalFloat]] = Field(description="M x M variation of information (bits)")
    distance: str = Field(description="the hotspot distance: nmi (-log NMI) or vi")
    min_samples: int
    clustered: list[int] = Field(description="the active channels that OPTICS clustered")
    ordering: list[int] = Field(description="OPTICS ordering of the clustered channels (channel indices)")
    reachability: list[OptionalFloat] = Field(description="reachability in OPTICS order (null: infinite, the first)")
    labels: list[int] = Field(description="per channel (M): hotspot label, -1 noise, -2 inactive")
    factor_names: list[str] = Field(default_factory=list)
    nmi_factor: list[list[OptionalFloat]] | None = Field(
        None, description="M x K NMI of every channel with every ground-truth factor (when the probe set has factors)"
    )


class EnsembleHotspot(BaseModel):
    label: int
    channels: list[int]
    members: list[str] = Field(description="the member of each channel, in channel order")
    betas: list[float] = Field(description="the beta of each channel, in channel order")
    dims: list[int]
    mean_info_bits: float
    best_factor: str | None = Field(None, description="the factor with the highest mean channel-factor NMI")
    best_factor_nmi: OptionalFloat = None
    factor_nmi: dict[str, OptionalFloat] = Field(default_factory=dict, description="mean channel-factor NMI per factor")


class EnsembleHotspots(BaseModel):
    ensemble: str
    distance: str
    min_samples: int
    factor_names: list[str]
    hotspots: list[EnsembleHotspot]


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    distance: Literal["nmi", "vi"] = Field("nmi", description="hotspot distance: -log NMI, or clip(VI, 0)")
    min_samples: int | None = Field(
        None, ge=2, le=10_000, description="OPTICS min_samples (default: the rule, the ensemble's seeds per beta; paper: 20; capped at the active channels)"
    )


class EnsembleAnalysisSummary(BaseModel):
    ensemble: str
    members: int
    channels: int
    active: int
    hotspots: int
    skipped: int
    seconds: float | None = None


class JobInfo(BaseModel):
    job_id: str
    model_id: str | None = Field(description="the model a metrics job works on (null for ensemble jobs)")
    ensemble_id: str | None = Field(None, description="the ensemble an analysis job works on")
    status: JobState
    progress: float = Field(ge=0, le=1)
    stage: str = Field(description="what the job is doing now")
    result: ModelMetrics | EnsembleAnalysisSummary | None = Field(
        None, description="when done: the metrics (also written to the model's card), or an ensemble analysis' summary"
    )
    error: str | None = Field(None, description="when failed: why")


class OnnxPartLink(BaseModel):
    """One exported graph and where to fetch it."""

    url: str = Field(description="GET it: the .onnx file (immutable: the URL carries its SHA-256)")
    bytes: int
    sha256: str
    input: str = Field(description="the graph's input name: 'latent' (decoder) or 'image' (encoder)")
    output: str
    input_shape: list[int | str]
    output_shape: list[int | str]
    max_abs_error: float = Field(description="max |onnxruntime - torch| measured when it was exported")
    checked_on: str


class OnnxManifest(BaseModel):
    """What of a model decodes (and encodes) in the browser with ONNX Runtime Web."""

    model_id: str
    available: bool = Field(description="whether the decoder was exported: the app then decodes in the browser")
    opset: int | None
    latent_dim: int
    image_shape: list[int] = Field(description="[channels, size, size] of the decoder's output")
    parts: dict[str, OnnxPartLink] = Field(description="decoder (latent -> image in [0, 1]) and encoder (image -> latent)")
    unavailable: dict[str, str] = Field(description="part -> why it is not exported (the server path serves it)")
    truncate_by_zeroing: bool = Field(
        description="ordered latents: top-C decoding is the decoder on the latent with entries C.. set to 0 (a JS step)"
    )
    sweeps: list[dict[str, float | list[float]]] = Field(
        description="per dim (the first 64 at most), what a traversal sweeps: {values: codebook} or {low, high} "
        "(steps evenly spaced values), as the server's /traverse does"
    )


class PrincipalPlane(BaseModel):
    """The population's PCA plane: point coordinates, and the basis that places any latent in it
    (``(z[:dims] - mean) @ components.T``)."""

    x: list[float]
    y: list[float]
    mean: list[float]
    components: list[list[float]] = Field(description="2 x dims principal axes")
    explained_variance_ratio: list[float]


class PopulationResponse(BaseModel):
    """``n`` seeded dataset samples encoded by the model, for the population scatter and histograms."""

    n: int
    seed: int
    dims: int = Field(description="latent dims returned (an ordered flow's top ones; at most 16)")
    latent_dim: int
    indices: list[int] = Field(description="each sample's dataset index (POST /encode with dataset_index loads it)")
    factor_names: list[str]
    factors: list[list[int]] = Field(description="each sample's factor indices (n x K)")
    factor_values: dict[str, list[float | str]] = Field(description="each sample's physical factor values, by factor")
    latents: list[list[float]] = Field(description="n x dims latents")
    pca: PrincipalPlane
    seconds: dict[str, float] = Field(description="render, encode and PCA time of the computation (not of this reply when cached)")
    cached: bool


class DimInformation(BaseModel):
    """How much each latent dim carries, and the dims ordered by it (most first)."""

    measure: Literal["kl_nats", "code_entropy_bits"] = Field(
        description="kl_nats: mean KL(q(z_d|x) || N(0, 1)) (models with a posterior); code_entropy_bits: entropy of the dim's code usage (models with codes)"
    )
    values: list[float]
    order: list[int] = Field(description="dims by decreasing value")
    samples: int = Field(description="dataset images encoded (seeded)")
    seed: int
