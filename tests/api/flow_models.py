"""The tiny flow (and a QLAE beside it) that the ordered-latent API tests serve, and helpers
to read their replies; the fixtures that train and serve them are in conftest.py."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

FLOW_ID, QLAE_ID = "eoflow-tiny", "qlae-tiny"
ABLATION_ID = "eoflow-tiny-nomtc"  # the same flow trained without the explained-entropy term
SIZE, DIM = 16, 256


def data_url_pixels(url: str) -> np.ndarray:
    """The pixels of a PNG data URL of a SIZE x SIZE image (asserting both)."""
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:40]
    image = Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))
    assert image.format == "PNG" and image.size == (SIZE, SIZE)
    return np.asarray(image)


def gradient_png(size: int = 24) -> bytes:
    """A grayscale diagonal-gradient PNG upload."""
    pixels = (np.add.outer(np.arange(size), np.arange(size)) * 5 % 256).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
