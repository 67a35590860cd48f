"""Exports for papers (latentatlas/imaging.py): the labelled traversal sheet and the animated GIF
per traversal: sizes, frames, the tiles exactly where they belong, labels drawn, determinism."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from latentatlas.imaging import LABEL_PAD, labelled_sheet, sheet_png, traversal_gif

ROWS, COLS, TILE = 3, 4, 16


@pytest.fixture
def tiles() -> torch.Tensor:
    """ROWS x COLS greyscale tiles, each of one grey level (0, 1/11, ...) so every tile differs."""
    levels = torch.arange(ROWS * COLS, dtype=torch.float32) / (ROWS * COLS - 1)
    return levels.view(-1, 1, 1, 1).expand(-1, 1, TILE, TILE).clone()


ROW_LABELS = ["z0 · posX (NMI 0.62)", "z1", "z7"]
COLUMN_LABELS = ["-3.0", "-1.0", "+1.0", "+3.0"]


def _margins(picture: Image.Image, scale: int) -> tuple[int, int]:
    """(label column width, header height): what is left of the picture beside the tiles."""
    return picture.width - COLS * TILE * scale, picture.height - ROWS * TILE * scale


def _ink(region: Image.Image) -> int:
    """Pixels darker than mid-grey in a region of a black-on-white label area."""
    return int((np.asarray(region.convert("L")) < 128).sum())


@pytest.mark.parametrize("scale", [1, 3])
def test_the_sheet_is_the_grid_plus_a_label_column_and_a_header(tiles, scale):
    picture = labelled_sheet(tiles, ROWS, ROW_LABELS, COLUMN_LABELS, "mean + k sd", scale)
    label_width, header = _margins(picture, scale)
    assert picture.mode == "RGB"
    assert label_width > 2 * LABEL_PAD and header > 2 * LABEL_PAD
    # The tiles sit bottom-right, upscaled by nearest neighbour: tile (r, c) is one grey level.
    grid = np.asarray(picture.convert("L"))[header:, label_width:]
    side = TILE * scale
    for r in range(ROWS):
        for c in range(COLS):
            expected = round(float(tiles[r * COLS + c, 0, 0, 0]) * 255)
            assert (grid[r * side : (r + 1) * side, c * side : (c + 1) * side] == expected).all(), (r, c)
    # The margins are the same whatever the scale: they depend on the labels only.
    assert _margins(labelled_sheet(tiles, ROWS, ROW_LABELS, COLUMN_LABELS, "mean + k sd", 1), 1) == (
        label_width,
        header,
    )


def test_every_label_is_drawn_in_its_cell(tiles):
    scale = 3  # tiles wider than their labels: each label stays in its own cell
    picture = labelled_sheet(tiles, ROWS, ROW_LABELS, COLUMN_LABELS, "mean + k sd", scale)
    label_width, header = _margins(picture, scale)
    side = TILE * scale
    for r in range(ROWS):  # each row's label cell has ink
        assert _ink(picture.crop((0, header + r * side, label_width, header + (r + 1) * side))) > 0, r
    for c in range(COLS):  # each column's header cell has ink
        assert _ink(picture.crop((label_width + c * side, 0, label_width + (c + 1) * side, header))) > 0, c
    assert _ink(picture.crop((0, 0, label_width, header))) > 0  # the corner says what the columns are
    # The label column is as wide as the widest label: a longer name widens it.
    longer = labelled_sheet(
        tiles, ROWS, [ROW_LABELS[0] + " and more", *ROW_LABELS[1:]], COLUMN_LABELS, "mean + k sd", scale
    )
    assert longer.width > picture.width and longer.height == picture.height


def test_labels_must_match_the_grid(tiles):
    with pytest.raises(ValueError, match="3 row and 4 column labels"):
        labelled_sheet(tiles, ROWS, ROW_LABELS[:2], COLUMN_LABELS)
    with pytest.raises(ValueError, match="4 step labels"):
        traversal_gif(tiles, ROWS, ROW_LABELS, COLUMN_LABELS[:3])


def test_the_gif_has_one_frame_per_step_showing_every_dim_at_that_step(tiles):
    scale = 2
    gif = Image.open(io.BytesIO(traversal_gif(tiles, ROWS, ROW_LABELS, COLUMN_LABELS, "mean + k sd", scale)))
    assert gif.format == "GIF" and gif.n_frames == COLS
    assert gif.info["loop"] == 0 and gif.info["duration"] == 200
    side = TILE * scale
    sheet = labelled_sheet(tiles, ROWS, ROW_LABELS, COLUMN_LABELS, "mean + k sd", scale)
    label_width = sheet.width - COLS * side
    assert gif.size == (label_width + side, sheet.height)  # the sheet's label column and header, one tile wide
    header = sheet.height - ROWS * side
    for k in range(COLS):
        gif.seek(k)
        frame = gif.convert("L")
        tiles_k = np.asarray(frame)[header:, label_width:]
        for r in range(ROWS):
            expected = round(float(tiles[r * COLS + k, 0, 0, 0]) * 255)
            assert (tiles_k[r * side : (r + 1) * side] == expected).all(), (k, r)
        # the same row labels as the sheet, and this step's label in the header
        assert np.array_equal(np.asarray(frame)[:, :label_width], np.asarray(sheet.convert("L"))[:, :label_width])
        assert _ink(frame.crop((label_width, 0, label_width + side, header))) > 0


def test_exports_are_deterministic(tiles):
    rgb = torch.rand(ROWS * COLS, 3, TILE, TILE, generator=torch.Generator().manual_seed(0))
    for images in (tiles, rgb):
        assert sheet_png(labelled_sheet(images, ROWS, ROW_LABELS, COLUMN_LABELS)) == sheet_png(
            labelled_sheet(images.clone(), ROWS, ROW_LABELS, COLUMN_LABELS)
        )
        assert traversal_gif(images, ROWS, ROW_LABELS, COLUMN_LABELS) == traversal_gif(
            images.clone(), ROWS, ROW_LABELS, COLUMN_LABELS
        )
    png = Image.open(io.BytesIO(sheet_png(labelled_sheet(rgb, ROWS, ROW_LABELS, COLUMN_LABELS))))
    assert png.format == "PNG" and png.size == labelled_sheet(rgb, ROWS, ROW_LABELS, COLUMN_LABELS).size
