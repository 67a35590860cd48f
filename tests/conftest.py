"""Fixtures shared by the unit and API tests.

torch gets one intra-op thread: the test machines have few cores, shared with other work.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)
# The in-process test client calls itself "testserver"; real servers keep the default hosts.
os.environ.setdefault("LATENTATLAS_TRUSTED_HOSTS", '["127.0.0.1", "localhost", "[::1]", "testserver"]')
# ONNX exports of the test session (and its browser tests' servers) go to a fresh folder, not ~/.cache.
os.environ.setdefault("LATENTATLAS_ONNX_CACHE_DIR", tempfile.mkdtemp(prefix="latentatlas-onnx-"))
# ... and so do the population encodings the servers derive (LATENTATLAS_CACHE_DIR).
os.environ.setdefault("LATENTATLAS_CACHE_DIR", tempfile.mkdtemp(prefix="latentatlas-derived-"))
# What the servers derive (runs of read-only model folders) goes to a fresh folder too, not ~/.local/state.
os.environ.setdefault("LATENTATLAS_STATE_DIR", tempfile.mkdtemp(prefix="latentatlas-state-"))


def encode_image(image: Image.Image | np.ndarray, fmt: str = "PNG", **save_options) -> bytes:
    """A PIL image (or uint8 array) saved in ``fmt`` (PNG, JPEG, WEBP, GIF, ...) as bytes."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if fmt.upper() in ("JPEG", "JPG") and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_options)
    return buffer.getvalue()


@pytest.fixture
def image_bytes() -> Callable[..., bytes]:
    """``image_bytes(image, "JPEG", quality=95)``: encode a test image in memory."""
    return encode_image


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photograph (scikit-image's astronaut, 512x512 RGB uint8), shipped with scikit-image."""
    from skimage import data

    return data.astronaut()
