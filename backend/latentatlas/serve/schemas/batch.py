"""Bodies of the batch encode endpoint: several uploaded images encoded at once."""

from __future__ import annotations

from pydantic import BaseModel, Field

from latentatlas.serve.schemas.models import InputContext


class BatchItem(InputContext):
    """One uploaded file: its latent, reconstruction, PSNR and out-of-distribution verdict."""

    name: str = Field(description="the file's name as uploaded (a folder upload's relative path)")
    latent: list[float]
    input: str = Field(description="the image as the model sees it (PNG data URL)")
    reconstruction: str | None = Field(description="PNG data URL (None: the model has no decoder)")


class BatchEncodeResponse(BaseModel):
    items: list[BatchItem] = Field(description="one per uploaded file, in the order sent")
