"""Bodies of /directions: the principal directions of a model's encoded latents (GANSpace-style edits)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PrincipalDirection(BaseModel):
    vector: list[float] = Field(description="unit vector v_k in latent space (latent_dim entries)")
    sd: float = Field(description="the sd of the encoded latents along v_k: an edit adds t * sd * v_k")
    explained_variance_ratio: float = Field(description="the share of the latents' total variance along v_k")


class DirectionsResponse(BaseModel):
    directions: list[PrincipalDirection] = Field(
        description="ordered by variance; fewer than asked when the latents span fewer directions"
    )
    mean: list[float] = Field(description="the mean of the encoded latents")
    samples: int = Field(description="held-out dataset images encoded (evenly spread over the held-out set)")
    latent_dim: int
