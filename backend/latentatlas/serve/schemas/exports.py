"""Bodies of the exports for papers: the labelled traversal (PNG / GIF) and the metric tables (CSV / JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from latentatlas.serve.schemas.models import DimName, MetricValues, TraverseRequest


class TraverseExportRequest(TraverseRequest):
    format: Literal["png", "gif"] = Field(
        "png",
        description="png: the labelled grid (rows = dims, columns = steps); gif: one frame per step, every dim as a row",
    )
    scale: int | None = Field(
        None, ge=1, le=16, description="tile upscale (nearest neighbour); default: tiles of at least 64 pixels"
    )


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
    values: MetricValues = Field(description="the scalar metrics, as in the card")
