"""Bodies of the population views: the encoded dataset sample with its principal plane, its
non-linear layouts (UMAP, t-SNE), and per-dim information."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from latentatlas.evaluation.layouts import MAX_LAYOUT_POINTS


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
    seconds: dict[str, float] = Field(
        description="render, encode and PCA time of the computation (not of this reply when cached)"
    )
    cached: bool


class PopulationProgress(BaseModel):
    """The population encode under way for a model, if any (polled while it runs)."""

    running: bool
    n: int | None = Field(None, description="samples being encoded (null when none is)")
    seed: int | None = None
    done: int = Field(0, description="samples encoded so far")
    elapsed_s: float = 0.0


class DimInformation(BaseModel):
    """How much each latent dim carries, and the dims ordered by it (most first)."""

    measure: Literal["kl_nats", "code_entropy_bits"] = Field(
        description="kl_nats: mean KL(q(z_d|x) || N(0, 1)) (models with a posterior); code_entropy_bits: entropy of the dim's code usage (models with codes)"
    )
    values: list[float]
    order: list[int] = Field(description="dims by decreasing value")
    samples: int = Field(description="dataset images encoded (seeded)")
    seed: int


class DimFactors(BaseModel):
    """Per latent dim, the factor it follows (None: none clearly), with the scores behind it."""

    names: list[str | None] = Field(description="per dim: the factor it follows, or null")
    factor_names: list[str]
    scores: list[list[float]] = Field(
        description="dims x factors: the variance of z_d while only that factor changes, in units of z_d's variance"
    )
    inactive: list[bool] = Field(
        description="per dim: collapsed to the prior (the model's dim_inactive; all false without a posterior); "
        "an inactive dim is never named"
    )
    rule: str = Field(description="when a dim is named, in words")
    bases: int = Field(description="random base cells of the factor grid")
    per_factor: int = Field(description="levels each factor is set to, at most (all of a smaller factor's)")
    seed: int
    encodes: int = Field(description="images rendered and encoded")


class LayoutRequest(BaseModel):
    """A non-linear layout of a population (:mod:`latentatlas.evaluation.layouts`)."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["umap", "tsne"] = Field(description="umap (umap-learn) or tsne (scikit-learn's Barnes-Hut)")
    n: int = Field(2000, ge=10, le=MAX_LAYOUT_POINTS, description="the population's size (its samples, seed 0 ...)")
    seed: int = Field(0, ge=0, lt=2**32, description="the population's seed, which also seeds the layout")


class PopulationLayout(BaseModel):
    """A population's samples (``GET /population`` with the same n and seed, in its order) laid out in 2-D."""

    method: Literal["umap", "tsne"]
    n: int
    seed: int
    dims: int = Field(description="latent dims laid out (those /population returns), standardised per dim")
    params: dict[str, float | int | str] = Field(description="the method's parameters")
    x: list[float]
    y: list[float]
    seconds: float = Field(description="time of the layout itself (not of this reply when cached)")
    cached: bool
