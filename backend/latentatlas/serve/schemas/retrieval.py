"""Bodies of retrieval: the dataset images nearest to a latent, and traversals by retrieval."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from latentatlas.serve.schemas.common import Latent
from latentatlas.serve.schemas.models import TraverseRequest, TraverseResponse


class NearestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latent: Latent
    k: int = Field(8, ge=1, le=64, description="how many nearest dataset images")


class Neighbour(BaseModel):
    index: int = Field(
        description="the image's dataset index (POST /encode with dataset_index loads it); for a model's saved "
        "samples, the sample's row"
    )
    distance: float = Field(description="Euclidean distance to the latent, in the index's per-dim sds")
    image: str = Field(description="PNG data URL")
    factors: dict[str, float | str] | None = Field(None, description="its factor values, where the dataset has factors")


class RetrievalIndex(BaseModel):
    """What the neighbours are drawn from: ``size`` seeded dataset images, encoded once per model,
    or a model's own saved samples (``seed`` null)."""

    size: int
    seed: int | None = Field(description="which dataset images were drawn; null for a model's saved samples")
    dataset: str
    metric: str = Field(description="the distance, in words")


class NearestResponse(BaseModel):
    neighbours: list[Neighbour] = Field(description="nearest first")
    index: RetrievalIndex


class RetrievalTraverseRequest(TraverseRequest):
    """A traversal by retrieval: the same sweep as /traverse, each cell the nearest dataset image."""


class RetrievalTraverseResponse(TraverseResponse):
    """/traverse's grid, each tile the dataset image nearest to the swept latent."""

    indices: list[list[int]] = Field(description="per row, each cell's dataset index")
    distances: list[list[float]] = Field(description="per row, each cell's distance to its swept latent")
    index: RetrievalIndex
