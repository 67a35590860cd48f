"""The metric catalogue as the API serves it (``GET /api/metric-catalogue``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class MetricGroup(BaseModel):
    name: str
    description: str


class CatalogueScore(BaseModel):
    key: str = Field(description="flat dotted name in a card's values, baselines and the zoo (dci.disentanglement)")
    label: str
    description: str
    shown: bool = Field(description="shown in the app's bars and comparison")
    baseline: bool = Field(description="gets a null and a ceiling")
    zoo: bool | None = Field(description="a column of the zoo's table (null: as shown)")


class CatalogueMetric(BaseModel):
    name: str = Field(description="the computation's name: a card's values key, a `metrics --metrics` choice")
    title: str
    group: str
    paper: str = Field(description="the paper it comes from")
    source: Literal["latents", "codes", "interventions"] = Field(
        description="latents: (z, y) rows; codes: a quantised model's code indices; interventions: votes on renders"
    )
    compute: str = Field(description="the function that computes it")
    cost: str
    seconds: float = Field(description="rough seconds on 10,000 samples on a 2-core CPU (0: counted in images)")
    default: bool = Field(description="computed unless others are asked for")
    zoo: bool = Field(description="in the zoo protocol's default metrics")
    null: Literal["shuffled rows", "drawn latent rows"]
    ceiling: str
    baselines: Literal["always", "on request", "never"] = Field(description="when a card gets its null and ceiling")
    caveat: str
    variant_of: str | None = Field(description="the metric it is a variant of, computed beside it")
    stands_in_for: str | None = Field(description="shown only where that metric is missing (an estimate of it)")
    reuses: str | None = Field(description="equal to that metric's result when every latent is active")
    flags: list[str] = Field(description="booleans in its value that qualify the scores (e.g. infoe_near_zero)")
    scores: list[CatalogueScore]


class MetricCatalogue(BaseModel):
    """The catalogue: groups and metrics in display order."""

    groups: list[MetricGroup]
    metrics: list[CatalogueMetric]
