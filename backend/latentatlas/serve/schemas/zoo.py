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
        [],
        description="each claim x dataset x metric: diff, 95 % interval, Welch's p, Holm-adjusted p, the exact "
        "rank-sum p (p_rank, p_rank_holm), verdict, needs_t",
    )
    null_tests: list[dict] = Field(
        [],
        description="each dataset x variant x score against the member's own null: diff (score - null), one-sided "
        "paired p, p_holm, p_rank (exact signed-rank), p_rank_holm, verdict, needs_t",
    )
    equivalence_tests: list[dict] = Field(
        [],
        description="each claim x dataset x metric: TOST within bound (and where it is stated), paired diff, 90 % "
        "interval, p, p_holm, p_rank, p_rank_holm, verdict, needs_t",
    )
    families: dict[str, dict] = Field(
        {}, description="dataset -> its Holm family: id, claims_digest, size, counts by kind, missing tests"
    )
