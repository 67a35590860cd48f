"""What every body shares: finite floats, latents, and the one error shape with the OpenAPI entries for it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
LatentValue = Annotated[float, Field(allow_inf_nan=False, strict=True)]
"""A latent coordinate: a finite JSON number (strict: true/false or "1.5" are refused, ints pass)."""
Latent = Annotated[list[LatentValue], Field(min_length=1, max_length=4096)]


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
