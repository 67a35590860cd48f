"""Bodies of /api/models/{id}/onnx: what of a model decodes (and encodes) in the browser."""

from __future__ import annotations

from pydantic import BaseModel, Field


class OnnxPartLink(BaseModel):
    """One exported graph and where to fetch it."""

    url: str = Field(description="GET it: the .onnx file (immutable: the URL carries its SHA-256)")
    bytes: int
    sha256: str
    input: str = Field(description="the graph's input name: 'latent' (decoder) or 'image' (encoder)")
    output: str
    input_shape: list[int | str]
    output_shape: list[int | str]
    max_abs_error: float = Field(description="max |onnxruntime - torch| measured when it was exported")
    checked_on: str


class OnnxManifest(BaseModel):
    """What of a model decodes (and encodes) in the browser with ONNX Runtime Web."""

    model_id: str
    available: bool = Field(description="whether the decoder was exported: the app then decodes in the browser")
    opset: int | None
    latent_dim: int
    image_shape: list[int] = Field(description="[channels, size, size] of the decoder's output")
    parts: dict[str, OnnxPartLink] = Field(
        description="decoder (latent -> image in [0, 1]) and encoder (image -> latent)"
    )
    unavailable: dict[str, str] = Field(description="part -> why it is not exported (the server path serves it)")
    truncate_by_zeroing: bool = Field(
        description="ordered latents: top-C decoding is the decoder on the latent with entries C.. set to 0 (a JS step)"
    )
    sweeps: list[dict[str, float | list[float]]] = Field(
        description="per dim (the first 64 at most), what a traversal sweeps: {values: codebook} or {low, high} "
        "(steps evenly spaced values), as the server's /traverse does"
    )
