"""The body of /api/zoo: the seeded model zoo's comparison table."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ZooTable(BaseModel):
    """The zoo's comparison, as ``zoo compare`` wrote it (scores by dotted metric name), or
    ``available: false`` with the reason when this server has none."""

    available: bool = True
    reason: str | None = Field(None, description="why there is no zoo table (available: false)")
    zoo: str | None = None
    estimator: str | None = Field(None, description="the InfoMEC estimator every member was scored with")
    protocol: dict = {}
    budget: dict = Field({}, description="steps, batch size, images per member and their fraction of the paper's")
    test: str | None = Field(None, description="the test behind each claim")
    datasets: dict[str, dict] = Field(
        {},
        description="dataset -> {variants: name -> {scores: metric -> {n, mean, sd, ci95, values}, null_mean, ...}, ceiling}",
    )
    claims: list[dict] = Field(
        [], description="each claim x dataset x metric: diff, 95 % interval, Welch's p, Holm-adjusted p, verdict"
    )
