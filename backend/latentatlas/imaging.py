"""Tensor <-> picture conversion, the one place it happens: float images (C, H, W) in [0, 1]
to 8-bit Pillow images, PNG bytes and data URLs, batches tiled into grids and sheets, and
labelled traversal sheets and GIFs for papers."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


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


LABEL_FONT_SIZE = 11
LABEL_PAD = 4  # pixels around each label


def _font() -> ImageFont.FreeTypeFont:
    """Pillow's default font (its bundled FreeType face when Pillow has FreeType)."""
    font = ImageFont.load_default(size=LABEL_FONT_SIZE)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError("labelled sheets need Pillow built with FreeType (for a sized default font)")
    return font


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return int(right - left)


def labelled_sheet(
    images: torch.Tensor, rows: int, row_labels: list[str], column_labels: list[str], corner: str = "", scale: int = 1
) -> Image.Image:
    """(rows*cols, C, H, W) -> an RGB sheet for papers: the grid upscaled ``scale`` times, a left
    column of row labels and a header row of column labels (corner: what the columns are), black
    on white in Pillow's default font.

    Size: (label_width + cols*W*scale, header_height + rows*H*scale), label_width = widest row
    label (or corner) + 2 LABEL_PAD, header_height = the font's line height + 2 LABEL_PAD."""
    cols = images.shape[0] // rows
    if len(row_labels) != rows or len(column_labels) != cols:
        raise ValueError(
            f"{rows} x {cols} tiles need {rows} row and {cols} column labels, not {len(row_labels)} and {len(column_labels)}"
        )
    grid = sheet(images, rows, scale).convert("RGB")
    tile_w, tile_h = grid.width // cols, grid.height // rows
    font = _font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max(_text_width(measure, text, font) for text in [*row_labels, corner]) + 2 * LABEL_PAD
    ascent, descent = font.getmetrics()
    header_height = ascent + descent + 2 * LABEL_PAD
    canvas = Image.new("RGB", (label_width + grid.width, header_height + grid.height), "white")
    canvas.paste(grid, (label_width, header_height))
    draw = ImageDraw.Draw(canvas)
    # anchor "lm"/"mm": left- or centre-aligned on the vertical middle of the label's cell
    draw.text((LABEL_PAD, header_height // 2), corner, fill="black", font=font, anchor="lm")
    for r, text in enumerate(row_labels):
        draw.text((LABEL_PAD, header_height + r * tile_h + tile_h // 2), text, fill="black", font=font, anchor="lm")
    for c, text in enumerate(column_labels):
        draw.text(
            (label_width + c * tile_w + tile_w // 2, header_height // 2), text, fill="black", font=font, anchor="mm"
        )
    return canvas


def sheet_png(picture: Image.Image) -> bytes:
    """A Pillow picture -> PNG bytes (zlib's default level: exports are kept; ``optimize`` saves
    another 1% at three times the time)."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def traversal_gif(
    images: torch.Tensor,
    rows: int,
    row_labels: list[str],
    step_labels: list[str],
    corner: str = "",
    scale: int = 1,
    frame_ms: int = 200,
) -> bytes:
    """A traversal (rows*cols, C, H, W), row r sweeping one dim over cols steps, -> an animated GIF
    (looping) of cols frames, the disentangling-vae habit: frame k is every dim at its k-th step,
    one tile per row, labelled as :func:`labelled_sheet` labels the grid (header: step k's label)."""
    cols = images.shape[0] // rows
    if len(step_labels) != cols:
        raise ValueError(f"{cols} steps need {cols} step labels, not {len(step_labels)}")
    frames = [labelled_sheet(images[k::cols], rows, row_labels, [step_labels[k]], corner, scale) for k in range(cols)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()
