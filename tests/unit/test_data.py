"""Datasets: procedural dSprites and Shapes3D (grids, determinism, index <-> factors,
held-out split) and the user's image folders (decoding, EXIF, crop, corrupt files)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from latentatlas.data.dsprites import DSprites
from latentatlas.data.folder import ImageFolder
from latentatlas.data.registry import load_dataset
from latentatlas.data.shapes3d import Shapes3D
from latentatlas.data.spec import DatasetSpec


@pytest.fixture(scope="module")
def dsprites() -> DSprites:
    return DSprites(DatasetSpec(name="dsprites", image_size=32))


@pytest.fixture(scope="module")
def shapes3d() -> Shapes3D:
    return Shapes3D(DatasetSpec(name="shapes3d", image_size=32))


@pytest.fixture(params=["dsprites", "shapes3d"])
def factor_dataset(request, dsprites, shapes3d):
    return {"dsprites": dsprites, "shapes3d": shapes3d}[request.param]


# -- factor grids -----------------------------------------------------------------------


def test_dsprites_factor_grid(dsprites):
    assert dsprites.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert dsprites.factor_sizes == (3, 6, 40, 32, 32)
    assert len(dsprites) == 737_280 == math.prod(dsprites.factor_sizes)
    assert [len(values) for values in dsprites.factor_values] == list(dsprites.factor_sizes)
    assert dsprites.channels == 1


def test_shapes3d_factor_grid(shapes3d):
    assert shapes3d.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert shapes3d.factor_sizes == (10, 10, 10, 8, 4, 15)
    assert len(shapes3d) == 480_000 == math.prod(shapes3d.factor_sizes)
    assert [len(values) for values in shapes3d.factor_values] == list(shapes3d.factor_sizes)
    assert shapes3d.channels == 3


def test_load_dataset_builds_the_named_dataset():
    assert isinstance(load_dataset(DatasetSpec(name="dsprites", image_size=16)), DSprites)
    assert isinstance(load_dataset(DatasetSpec(name="shapes3d", image_size=16)), Shapes3D)
    described = load_dataset(DatasetSpec(name="shapes3d", image_size=16)).describe()
    assert described["size"] == 480_000 and described["image_size"] == 16 and described["channels"] == 3


# -- index <-> factors ------------------------------------------------------------------


def test_index_factor_round_trip(factor_dataset):
    rng = np.random.default_rng(0)
    indices = rng.integers(0, len(factor_dataset), size=2000)
    indices = np.concatenate([indices, [0, len(factor_dataset) - 1]])
    factors = factor_dataset.index_to_factors(indices)
    assert factors.shape == (len(indices), len(factor_dataset.factor_sizes))
    assert (factors >= 0).all() and (factors < np.asarray(factor_dataset.factor_sizes)).all()
    np.testing.assert_array_equal(factor_dataset.factors_to_index(factors), indices)


def test_factors_to_index_round_trip(factor_dataset):
    factors = factor_dataset.sample_factors(500, np.random.default_rng(1))
    np.testing.assert_array_equal(factor_dataset.index_to_factors(factor_dataset.factors_to_index(factors)), factors)


def test_last_factor_varies_fastest(factor_dataset):
    first = factor_dataset.index_to_factors(np.array([0, 1]))
    assert first[0].tolist() == [0] * len(factor_dataset.factor_sizes)
    assert first[1].tolist() == [0] * (len(factor_dataset.factor_sizes) - 1) + [1]


def test_images_by_index_match_rendered_factors(factor_dataset):
    indices = np.random.default_rng(2).integers(0, len(factor_dataset), size=8)
    torch.testing.assert_close(
        factor_dataset.images(indices), factor_dataset.render(factor_dataset.index_to_factors(indices)), rtol=0, atol=0
    )


# -- rendering --------------------------------------------------------------------------


def test_rendering_is_deterministic(factor_dataset):
    indices = np.random.default_rng(3).integers(0, len(factor_dataset), size=16)
    first = factor_dataset.images(indices)
    second = factor_dataset.images(indices.copy())
    assert torch.equal(first, second)
    # An image does not depend on what else is in the batch.
    assert torch.equal(factor_dataset.images(indices[5:6])[0], first[5])
    # A fresh instance renders the same pixels.
    fresh = type(factor_dataset)(factor_dataset.spec)
    assert torch.equal(fresh.images(indices), first)


def test_dsprites_images_are_binary(dsprites):
    images = dsprites.images(np.random.default_rng(4).integers(0, len(dsprites), size=64))
    assert images.shape == (64, 1, 32, 32) and images.dtype == torch.float32
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    # Every sprite is visible and none fills the frame.
    coverage = images.flatten(1).mean(dim=1)
    assert (coverage > 0).all() and (coverage < 0.5).all()


def test_shapes3d_images_are_rgb_in_unit_range(shapes3d):
    images = shapes3d.images(np.random.default_rng(5).integers(0, len(shapes3d), size=32))
    assert images.shape == (32, 3, 32, 32) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert torch.isfinite(images).all()
    # Colour scenes: the channels are not all equal.
    assert (images[:, 0] - images[:, 1]).abs().max() > 0.1


@pytest.mark.parametrize("size", [16, 64])
def test_image_size_follows_the_spec(size):
    assert DSprites(DatasetSpec(name="dsprites", image_size=size)).images(np.array([7])).shape == (1, 1, size, size)
    assert Shapes3D(DatasetSpec(name="shapes3d", image_size=size)).images(np.array([7])).shape == (1, 3, size, size)


def _changed(dataset, base: list[int], factor: int, value: int) -> bool:
    other = list(base)
    other[factor] = value
    images = dataset.render(np.array([base, other]))
    return not torch.equal(images[0], images[1])


@pytest.mark.parametrize(
    ("factor", "value"),
    [
        (0, 0),  # ellipse -> square
        (0, 2),  # ellipse -> heart
        (1, 5),  # scale 0.6 -> 1.0
        (2, 15),  # orientation ~46 deg -> ~138 deg (an ellipse's symmetry is 180 deg)
        (3, 20),  # posX
        (4, 2),  # posY
    ],
)
def test_dsprites_each_factor_changes_the_image(factor, value):
    dataset = DSprites(DatasetSpec(name="dsprites", image_size=64))
    assert _changed(dataset, [1, 1, 5, 10, 16], factor, value)


def test_shapes3d_each_factor_changes_the_image(shapes3d):
    rng = np.random.default_rng(6)
    for base in shapes3d.sample_factors(5, rng).tolist():
        for factor, size in enumerate(shapes3d.factor_sizes):
            value = (base[factor] + max(1, size // 3)) % size
            assert _changed(shapes3d, base, factor, value), (base, shapes3d.factor_names[factor], value)


# -- held-out split ---------------------------------------------------------------------


def test_holdout_is_fixed_sorted_and_unique(dsprites):
    held = dsprites.holdout_indices
    assert len(held) == dsprites.spec.holdout == 1000
    assert (np.diff(held) > 0).all()
    assert held.min() >= 0 and held.max() < len(dsprites)
    np.testing.assert_array_equal(DSprites(dsprites.spec).holdout_indices, held)
    other_seed = DSprites(DatasetSpec(name="dsprites", image_size=32, holdout_seed=1))
    assert not np.array_equal(other_seed.holdout_indices, held)


def test_sample_train_indices_never_returns_held_out(factor_dataset):
    rng = np.random.default_rng(7)
    drawn = np.concatenate([factor_dataset.sample_train_indices(4096, rng) for _ in range(10)])
    assert drawn.min() >= 0 and drawn.max() < len(factor_dataset)
    assert not np.isin(drawn, factor_dataset.holdout_indices).any()


def test_sample_train_indices_rejects_held_out_in_a_small_set():
    class Small(Shapes3D):  # a 1000-image grid, 100 of them held out
        factor_sizes = (10, 10, 10)

    small = Small(DatasetSpec(name="shapes3d", image_size=16, holdout=100))
    assert len(small) == 1000 and len(small.holdout_indices) == 100
    drawn = small.sample_train_indices(20_000, np.random.default_rng(8))  # ~2000 draws land on held-out ones first
    assert not np.isin(drawn, small.holdout_indices).any()
    np.testing.assert_array_equal(np.unique(drawn), np.setdiff1d(np.arange(1000), small.holdout_indices))


def test_sample_train_indices_is_seeded(dsprites):
    a = dsprites.sample_train_indices(100, np.random.default_rng(9))
    b = dsprites.sample_train_indices(100, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)


# -- image folders ----------------------------------------------------------------------

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
ORIENTATION_TAG = 0x0112


def _blocks(width: int, height: int, spans: list[tuple[int, int, tuple[int, int, int]]], axis: str) -> Image.Image:
    """An RGB image of solid bands: (start, stop, colour) along x (axis='x') or y."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    for start, stop, colour in spans:
        if axis == "x":
            array[:, start:stop] = colour
        else:
            array[start:stop, :] = colour
    return Image.fromarray(array)


@pytest.fixture
def image_folder(tmp_path):
    """Five readable images of different sizes and formats, one corrupt file, one non-image."""
    root = tmp_path / "photos"
    (root / "nested").mkdir(parents=True)
    # a: landscape 60x20, red | green | blue thirds: the centre crop sees only green.
    _blocks(60, 20, [(0, 20, RED), (20, 40, GREEN), (40, 60, BLUE)], "x").save(root / "a_crop.png")
    # b: stored landscape 60x20, top half red and bottom half blue, EXIF orientation 6
    # (display rotated 90 deg clockwise: a 20x60 portrait whose left half is blue and right half red).
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    _blocks(60, 20, [(0, 10, RED), (10, 20, BLUE)], "y").save(root / "b_exif.jpg", quality=95, exif=exif)
    # c: greyscale portrait PNG.
    Image.new("L", (17, 45), 200).save(root / "c_gray.png")
    # d: not an image at all, but named like one.
    (root / "d_corrupt.png").write_bytes(b"this is not a PNG file" * 10)
    # e: WebP in a nested folder.
    Image.new("RGB", (100, 80), (10, 120, 240)).save(root / "nested" / "e_deep.webp")
    # f: a small JPEG.
    Image.new("RGB", (9, 12), (250, 250, 0)).save(root / "f_small.jpeg", quality=95)
    # not an image suffix: ignored, not counted as skipped
    (root / "notes.txt").write_text("hello")
    return root


def test_image_folder_loads_every_readable_image(image_folder):
    dataset = ImageFolder(DatasetSpec(name="folder", path=str(image_folder), image_size=16))
    assert dataset.skipped == 1
    assert len(dataset) == 5
    images = dataset.images(np.arange(len(dataset)))
    assert images.shape == (5, 3, 16, 16) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert dataset.factor_sizes == ()
    # Tiny sets still hold out one image (evaluation needs one); training draws every other image.
    assert len(dataset.holdout_indices) == 1
    drawn = set(dataset.sample_train_indices(200, np.random.default_rng(0)).tolist())
    assert drawn == set(range(5)) - set(dataset.holdout_indices.tolist())


def test_image_folder_centre_crops_then_resizes(image_folder):
    dataset = ImageFolder(DatasetSpec(name="folder", path=str(image_folder), image_size=16))
    crop = dataset.images(np.array([0]))[0]  # a_crop.png: only the green middle third survives
    expected = torch.tensor(GREEN, dtype=torch.float32).view(3, 1, 1) / 255
    torch.testing.assert_close(crop, expected.expand_as(crop), rtol=0, atol=1 / 255)
    # Upscaled small and downscaled large images keep their flat colours.
    # Files are in path order: a_crop, b_exif, c_gray, f_small, nested/e_deep.
    small, large = dataset.images(np.array([3, 4]))  # f_small.jpeg (9x12), nested/e_deep.webp (100x80)
    torch.testing.assert_close(small.mean(dim=(1, 2)), torch.tensor([250.0, 250.0, 0.0]) / 255, rtol=0, atol=0.03)
    torch.testing.assert_close(large.mean(dim=(1, 2)), torch.tensor([10.0, 120.0, 240.0]) / 255, rtol=0, atol=0.03)


def test_image_folder_honours_exif_rotation(image_folder):
    dataset = ImageFolder(DatasetSpec(name="folder", path=str(image_folder), image_size=16))
    rotated = dataset.images(np.array([1]))[0]  # b_exif.jpg
    left, right = rotated[:, :, :6].mean(dim=(1, 2)), rotated[:, :, -6:].mean(dim=(1, 2))
    # Honoured: displayed as a portrait whose left half is blue and right half red.
    assert left[2] > 0.8 and left[0] < 0.2, left
    assert right[0] > 0.8 and right[2] < 0.2, right
    # (Ignoring the tag would give a red top half and a blue bottom half instead.)
    top, bottom = rotated[:, :6].mean(dim=(1, 2)), rotated[:, -6:].mean(dim=(1, 2))
    torch.testing.assert_close(top, bottom, rtol=0, atol=0.05)


def test_image_folder_greyscale_channels(image_folder):
    dataset = ImageFolder(DatasetSpec(name="folder", path=str(image_folder), image_size=8), channels=1)
    images = dataset.images(np.arange(len(dataset)))
    assert images.shape == (5, 1, 8, 8)
    torch.testing.assert_close(images[2], torch.full((1, 8, 8), 200 / 255), rtol=0, atol=1 / 255)  # c_gray.png


def test_image_folder_without_images_raises(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no readable images"):
        ImageFolder(DatasetSpec(name="folder", path=str(tmp_path), image_size=16))


def test_image_folder_with_only_corrupt_images_raises(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(ValueError, match="no readable images"):
        ImageFolder(DatasetSpec(name="folder", path=str(tmp_path), image_size=16))


def test_image_folder_missing_path_raises(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ImageFolder(DatasetSpec(name="folder", path=str(tmp_path / "nope"), image_size=16))
    with pytest.raises(ValueError, match="needs a path"):
        ImageFolder(DatasetSpec(name="folder", image_size=16))


def test_large_renders_go_in_chunks_with_the_same_pixels(monkeypatch):
    import latentatlas.data.base as base

    dataset = load_dataset(DatasetSpec(name="shapes3d", image_size=16))
    indices = np.arange(0, 480_000, 48_000)  # 10 images
    whole = dataset.images(indices)
    calls = []
    render = dataset.render
    monkeypatch.setattr(base, "RENDER_CHUNK", 4)
    monkeypatch.setattr(
        dataset, "render", lambda factors, device="cpu": calls.append(len(factors)) or render(factors, device)
    )
    assert torch.equal(dataset.images(indices), whole)
    assert calls == [4, 4, 2]
