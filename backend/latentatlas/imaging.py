"""Tensor <-> picture conversion, the one place it happens: float images (C, H, W) in [0, 1]
to 8-bit Pillow images, PNG bytes and data URLs, and batches tiled into grids and sheets."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """Float image (C, H, W) in [0, 1] (NaN -> 0, clipped) -> 8-bit L or RGB picture, upscaled
    ``scale`` times with nearest-neighbour (pixels stay crisp)."""
    pixels = (torch.nan_to_num(image.detach().float(), nan=0.0).clamp(0, 1) * 255).round().byte().cpu()
    array = np.ascontiguousarray(pixels.permute(1, 2, 0).numpy())
    picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    return picture


def to_png(image: torch.Tensor) -> bytes:
    """Float image (C, H, W) in [0, 1] -> PNG bytes (fast compression: these are small)."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def to_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tile_grid(images: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """(rows*cols, C, H, W) -> one (C, rows*H, cols*W) image, row-major, no gaps."""
    _, c, h, w = images.shape
    return images.view(rows, cols, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, rows * h, cols * w)


def sheet(images: torch.Tensor, rows: int, scale: int = 2) -> Image.Image:
    """(rows*cols, C, H, W) -> a picture of ``rows`` rows, upscaled ``scale`` times (model cards)."""
    return to_pil(tile_grid(images.cpu(), rows, images.shape[0] // rows), scale)
