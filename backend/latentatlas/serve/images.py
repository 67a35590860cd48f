"""Safe decoding of uploaded images (PNG encoding of outputs: :mod:`latentatlas.imaging`).

Uploads are only ever parsed as PNG, JPEG, WebP or GIF by Pillow; nothing is unpickled or
executed. The pixel count is checked from the header before any pixel is decoded
(decompression bombs), truncated files are refused, EXIF rotation is honoured, a GIF
contributes its first frame, and transparency is composited on black.

Memory is bounded: a JPEG is decoded already shrunk (``draft``: the decoder's own 1/2, 1/4 or
1/8 scaling, to no less than twice the model's size), other formats are decoded at full size only
up to ``max_decoded_pixels`` (a 154 KB PNG can declare 6300 x 6300 pixels: 120-160 MB decoded)
and reduced by an integer factor right after decoding, before any copy; at most
``CONCURRENT_DECODES`` uploads are decoded at once.
"""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from latentatlas.data.folder import fit_square
from latentatlas.errors import ImageInputError

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")


FULL_DECODE_COST = {"WEBP": 4}
"""How many times a PNG's memory per pixel a format takes to decode at full size (Pillow decodes
WebP through libwebp's animation decoder: ~15 bytes a pixel against PNG's ~4); its pixel limit is
``max_decoded_pixels`` divided by this (WebP: 4 MP by default, ~61 MB at the peak like a 16 MP PNG)."""

WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I")
"""Pillow's modes for 16-bit (and 32-bit integer) greyscale: scaled to 8 bits before anything else."""

CONCURRENT_DECODES = 2
_decodes = threading.BoundedSemaphore(CONCURRENT_DECODES)


def decode_upload(
    data: bytes, channels: int, size: int, max_pixels: int, max_decoded_pixels: int | None = None
) -> torch.Tensor:
    """Bytes of an uploaded image -> float tensor (1, channels, size, size) in [0, 1].

    ``max_pixels`` bounds the declared width x height of any upload; ``max_decoded_pixels``
    (default: ``max_pixels``) bounds it for formats decoded at full size (all but JPEG)."""
    if not data:
        raise ImageInputError(422, "the uploaded file is empty")
    try:
        with _decodes:
            return _decode(data, channels, size, max_pixels, max_decoded_pixels or max_pixels)
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageInputError(413, f"image has too many pixels: the limit is {max_pixels} (width x height)") from error
    except UnidentifiedImageError as error:
        raise ImageInputError(415, "not a supported image: upload a PNG, JPEG, WebP or GIF file") from error
    except Exception as error:
        raise ImageInputError(422, f"the image is truncated or corrupt ({type(error).__name__}: {error})") from error


def _to_8_bit_grey(image: Image.Image) -> Image.Image:
    """A 16-bit (or 32-bit integer) greyscale image -> 8-bit ``L``: v * 255 / 65535, rounded.

    PNG stores up to 16 bits per grey sample and Pillow opens it as ``I;16`` (or ``I``), a mode that
    ``reduce`` refuses and ``convert("L")`` clips at 255 rather than scales."""
    return image.convert("I").point(lambda v: v * (255 / 65535) + 0.5).convert("L")


def _decode(data: bytes, channels: int, size: int, max_pixels: int, max_decoded_pixels: int) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        opened = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        width, height = opened.size
        if width * height > max_pixels:  # from the header, before any pixel is decoded
            raise ImageInputError(
                413, f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
            )
        image_format = opened.format or ""
        limit = max_decoded_pixels // FULL_DECODE_COST.get(image_format, 1)
        if image_format == "JPEG":
            opened.draft("L" if channels == 1 else "RGB", (2 * size, 2 * size))  # decode shrunk
        elif width * height > limit:
            raise ImageInputError(
                413,
                f"{image_format} image is {width}x{height} = {width * height} pixels; {image_format} is decoded at full size, "
                f"so the limit is {limit} pixels (send a smaller image, or a JPEG)",
            )
        opened.seek(0)
        opened.load()
    image: Image.Image = opened
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in WIDE_GREY_MODES:
        image = _to_8_bit_grey(image)
    factor = min(image.size) // (2 * size)
    if factor > 1:  # shrink right after decoding: every later copy is small
        image = image.reduce(factor)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    image = fit_square(image.convert("L" if channels == 1 else "RGB"), size)
    pixels = np.asarray(image, dtype=np.float32).reshape(size, size, channels) / 255.0
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).contiguous()
