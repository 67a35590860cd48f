"""Bodies of /api/ensembles: members, whole-space similarity and fusion, channel similarity, hotspots, analysis."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OptionalFloat = float | None  # NaN / undefined values are null


class EnsembleInfo(BaseModel):
    id: str
    kind: str = Field(description="the members' model kind: vae or tcvae; imported for imported runs")
    source: Literal["trained", "imported"] = Field(
        "trained", description="trained here (ensemble train) or saved-latents runs imported (ensemble import)"
    )
    dataset: str
    latent_dim: int = Field(description="the members' latent size (imported runs may differ: the largest)")
    betas: list[float] = Field(description="the grid's betas (none for imported runs)")
    seeds: int = Field(description="members use seeds 0 .. seeds - 1 (imported: the number of runs)")
    members_decode: bool = Field(
        True,
        description="members are served models with a decoder, so a channel's traversal can be drawn; "
        "when false, members_note says why not",
    )
    members_note: str | None = Field(None, description="why members have no traversals (when members_decode is false)")
    member_count: int
    status_counts: dict[str, int] = Field(description="members per status: pending, running, done, failed")
    analysed: bool = Field(description="analysis.json is present and readable: /similarity and /hotspots work")
    analysed_at: str | None = None


class EnsembleList(BaseModel):
    ensembles: list[EnsembleInfo]


class EnsembleMember(BaseModel):
    name: str
    beta: float | None = Field(description="null for an imported run")
    seed: int | None = Field(description="null for an imported run")
    latent_dim: int | None = Field(None, description="the member's latent size")
    status: str
    model_id: str | None = Field(
        None, description="served as /api/models/{model_id} (NAME.MEMBER) when finished and loaded"
    )
    error: str | None = None
    info_bits: list[OptionalFloat] | None = Field(
        None, description="when analysed: information (bits) per latent dimension"
    )
    active: list[bool] | None = Field(None, description="when analysed: whether each dimension carries information")


class EnsembleSpaces(BaseModel):
    members: list[str] = Field(description="the analysed members, in the matrices' order")
    info_bits: list[OptionalFloat] = Field(
        description="I(U; X) of each member's whole latent space (bits, at most log2 of the probe size)"
    )
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
    tol: float | None = Field(
        None, description="early stop: the best objective gained less than tol over patience steps"
    )
    patience: int | None = None
    seconds: float | None = Field(None, description="wall time of the optimisation")
    channels: int
    info_bits: float = Field(description="I(F; X) of the fused space (bits)")
    mean_nmi: float = Field(description="mean NMI of the fused space with every member, each clipped at 1")
    nmi_above_one: int | None = Field(
        None, description="members whose NMI estimate with the fused space came out above 1 (clipped in mean_nmi)"
    )
    max_nmi: float | None = Field(
        None, description="the largest unclipped NMI estimate of the fused space with a member"
    )
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
    spaces: EnsembleSpaces | None = Field(
        None, description="when analysed: whole-latent-space information, NMI and VI between members"
    )
    fusion: EnsembleFusion | None = Field(
        None, description="when analysed with fusion: the fused representation against the members"
    )


class EnsembleChannel(BaseModel):
    index: int = Field(
        description="the member's offset (the latent sizes of the members before it, in the analysis' order) + dim"
    )
    member: str
    dim: int
    beta: float | None = Field(description="the member's beta (null: an imported run)")
    seed: int | None = Field(description="the member's seed (null: an imported run)")
    info_bits: OptionalFloat
    active: bool


class NMIClipping(BaseModel):
    """What clipping the NMI estimates to [0, 1] changed. The generalised NMI is a ratio of bound-based
    information estimates; below 0 (nearly independent channels) and above 1 (channels near the
    estimator's cap) it is the estimator's bias, not information, so those values are served as 0 and 1."""

    below_zero: int = Field(
        description="estimates below 0, served as 0 (channel pairs counted once; entries for M x K)"
    )
    min_estimate: OptionalFloat = Field(description="the most negative estimate (null: none below 0)")
    above_one: int = Field(description="estimates above 1, served as 1")
    max_estimate: OptionalFloat = Field(description="the largest estimate (null: none above 1)")


class EnsembleSimilarity(BaseModel):
    ensemble: str
    channels: list[EnsembleChannel] = Field(description="M = analysed members x latent_dim channels")
    nmi: list[list[OptionalFloat]] = Field(
        description="M x M normalised mutual information, clipped to [0, 1]: never negative (see nmi_clipping)"
    )
    nmi_clipping: NMIClipping = Field(
        description="how many of nmi's estimates were below 0 or above 1, and the extremes"
    )
    vi: list[list[OptionalFloat]] = Field(description="M x M variation of information (bits)")
    distance: str = Field(description="the hotspot distance: nmi (-log NMI) or vi")
    min_samples: int
    clustered: list[int] = Field(description="the active channels that OPTICS clustered")
    ordering: list[int] = Field(description="OPTICS ordering of the clustered channels (channel indices)")
    reachability: list[OptionalFloat] = Field(description="reachability in OPTICS order (null: infinite, the first)")
    labels: list[int] = Field(description="per channel (M): hotspot label, -1 noise, -2 inactive")
    factor_names: list[str] = Field(default_factory=list)
    nmi_factor: list[list[OptionalFloat]] | None = Field(
        None,
        description="M x K NMI of every channel with every ground-truth factor (when the probe set has factors), "
        "clipped to [0, 1] as nmi is",
    )
    nmi_factor_clipping: NMIClipping | None = Field(None, description="what clipping nmi_factor changed")


class EnsembleHotspot(BaseModel):
    label: int
    channels: list[int]
    members: list[str] = Field(description="the member of each channel, in channel order")
    betas: list[float | None] = Field(description="the beta of each channel, in channel order (null: imported)")
    dims: list[int]
    mean_info_bits: float
    best_factor: str | None = Field(None, description="the factor with the highest mean channel-factor NMI")
    best_factor_nmi: OptionalFloat = None
    factor_nmi: dict[str, OptionalFloat] = Field(default_factory=dict, description="mean channel-factor NMI per factor")
    cohesion: OptionalFloat = Field(
        None, description="mean NMI over the hotspot's channel pairs from different members"
    )
    beats_untrained_null: bool | None = Field(
        None, description="its cohesion beats every untrained null (None: the analysis has no untrained null)"
    )


class UntrainedNull(BaseModel):
    """One null ensemble of untrained encoders, as the analysis summarised it."""

    name: str = Field(description="as_initialised or signal_matched")
    description: str
    cross_member_nmi_p95: OptionalFloat = Field(description="what a hotspot's cohesion must exceed")
    active_channels: int
    hotspots: int = Field(description="hotspots the same analysis finds in the untrained ensemble")


class EnsembleHotspots(BaseModel):
    ensemble: str
    distance: str
    min_samples: int
    factor_names: list[str]
    hotspots: list[EnsembleHotspot]
    untrained_null_rule: str | None = Field(None, description="when a hotspot beats the untrained null")
    untrained_nulls: list[UntrainedNull] = Field(default_factory=list)


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    distance: Literal["nmi", "vi"] = Field("nmi", description="hotspot distance: -log NMI, or clip(VI, 0)")
    min_samples: int | None = Field(
        None,
        ge=2,
        le=10_000,
        description="OPTICS min_samples (default: the rule, the ensemble's seeds per beta; paper: 20; capped at the active channels)",
    )


class EnsembleAnalysisSummary(BaseModel):
    ensemble: str
    members: int
    channels: int
    active: int
    hotspots: int
    skipped: int
    seconds: float | None = None
