"""The field's dataset files, read from format-exact files (tests/dataset_files.py writes them with the
official key names, dtypes, storage and C row order; every image carries its own row index).

What each test covers:
- dSprites: a reduced grid (1 x 3 x 2 x 4 x 8 x 8) in the official npz layout, with a pickled
  ``metadata`` that must stay unread: factors, values, row order, bit-packed images, resizing.
  The official full-size order: the full 737,280-row ``latents_classes``/``latents_values`` go
  through the loader's own layout check and agree with the procedural set's index -> factors
  everywhere (a full-size imgs member costs ~20 s to inflate here: the benchmark opens that).
- Shapes3D: a reduced grid in h5 (gzip-chunked images, float labels), read lazily.
- MPI3D: a full-size 460,800-row uncompressed member written as a sparse file (real rows only in
  the chunks of the indices asked), memory-mapped; the N -> layout rule for both releases.
- CelebA: a small folder with the official attribute file and 178 x 218 JPEGs.
"""

from __future__ import annotations

import math
import zipfile

import numpy as np
import pytest
import torch

from dataset_files import (
    DSPRITES_SIZES,
    dsprites_latent_values,
    grid_classes,
    marked_index,
    write_celeba,
    write_dsprites,
    write_mpi3d,
    write_npz,
    write_shapes3d,
)
from latentatlas.data.celeba import CelebA
from latentatlas.data.dsprites import DSprites
from latentatlas.data.dsprites_file import DSpritesFile, dsprites_factors
from latentatlas.data.mpi3d import MPI3D, mpi3d_layout
from latentatlas.data.registry import load_dataset
from latentatlas.data.shapes3d import Shapes3D
from latentatlas.data.shapes3d_file import Shapes3DFile
from latentatlas.data.spec import DatasetError, DatasetSpec

SMALL_DSPRITES = (1, 3, 2, 4, 8, 8)
SMALL_SHAPES3D = (2, 2, 3, 2, 2, 3)


@pytest.fixture(scope="module")
def dsprites_file(tmp_path_factory):
    return write_dsprites(
        tmp_path_factory.mktemp("dsprites") / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
        SMALL_DSPRITES,
    )


@pytest.fixture(scope="module")
def shapes3d_file(tmp_path_factory):
    return write_shapes3d(tmp_path_factory.mktemp("shapes3d") / "3dshapes.h5", SMALL_SHAPES3D)


def _random_indices(dataset, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, len(dataset), size=n)


# -- dSprites ---------------------------------------------------------------------------


def test_dsprites_file_factors_drop_the_constant_color(dsprites_file):
    dataset = load_dataset(DatasetSpec(name="dsprites", path=str(dsprites_file)))
    assert isinstance(dataset, DSpritesFile) and dataset.channels == 1
    assert dataset.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert dataset.factor_sizes == SMALL_DSPRITES[1:] and len(dataset) == math.prod(SMALL_DSPRITES)
    np.testing.assert_array_equal(dataset.factor_values[0], [1.0, 2.0, 3.0])  # the file's shape values
    np.testing.assert_allclose(dataset.factor_values[1], [0.5, 0.6])
    assert dataset.describe()["path"] == str(dsprites_file)


def test_dsprites_file_rows_follow_the_files_latents(dsprites_file):
    dataset = DSpritesFile(DatasetSpec(name="dsprites", path=str(dsprites_file)))
    indices = np.concatenate([_random_indices(dataset, 200, 0), [0, len(dataset) - 1]])
    with np.load(dsprites_file, allow_pickle=False) as archive:
        np.testing.assert_array_equal(dataset.index_to_factors(indices), archive["latents_classes"][indices, 1:])
    assert marked_index(dataset.read(indices)).tolist() == indices.tolist()
    images = dataset.images(indices)
    assert images.shape == (len(indices), 1, 64, 64) and set(images.unique().tolist()) == {0.0, 1.0}
    # render(factors) reads the rows of those factors
    assert torch.equal(dataset.render(dataset.index_to_factors(indices)), images)
    assert dataset._packed.shape == (
        len(dataset),
        64,
        8,
    )  # bit-packed: 8 bytes a row of 64 pixels


def test_dsprites_file_resizes_to_the_model_size(dsprites_file):
    dataset = DSpritesFile(DatasetSpec(name="dsprites", path=str(dsprites_file), image_size=32))
    images = dataset.images(np.array([3, 4]))
    assert images.shape == (2, 1, 32, 32) and images.min() >= 0 and images.max() <= 1
    full = DSpritesFile(DatasetSpec(name="dsprites", path=str(dsprites_file))).images(np.array([3, 4]))
    torch.testing.assert_close(images.mean(dim=(1, 2, 3)), full.mean(dim=(1, 2, 3)), rtol=0, atol=0.01)


def test_the_official_dsprites_order_is_the_procedural_one():
    """The full official layout (737,280 rows, C order over color, shape, scale, orientation, posX, posY)
    through the loader's layout check: every index has the procedural set's factors and values."""
    classes = grid_classes(DSPRITES_SIZES)
    values = dsprites_latent_values(classes)
    official_values = dsprites_factors(classes, values, "dsprites.npz")
    procedural = DSprites(DatasetSpec(name="dsprites", image_size=16))
    assert tuple(len(v) for v in official_values) == procedural.factor_sizes
    np.testing.assert_array_equal(procedural.index_to_factors(np.arange(len(classes))), classes[:, 1:])
    for official, ours in zip(official_values[1:], procedural.factor_values[1:]):  # shape: 1..3 there, 0..2 here
        np.testing.assert_allclose(official, ours)


def test_dsprites_metadata_is_never_unpickled(dsprites_file, monkeypatch):
    import pickle

    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("metadata was unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("metadata was unpickled"))
    assert len(DSpritesFile(DatasetSpec(name="dsprites", path=str(dsprites_file)))) == math.prod(SMALL_DSPRITES)


# -- Shapes3D ---------------------------------------------------------------------------


def test_shapes3d_file_factors_and_rows(shapes3d_file):
    dataset = load_dataset(DatasetSpec(name="shapes3d", path=str(shapes3d_file)))
    assert isinstance(dataset, Shapes3DFile) and dataset.channels == 3
    assert dataset.factor_names == Shapes3D.factor_names and dataset.factor_sizes == SMALL_SHAPES3D
    np.testing.assert_allclose(dataset.factor_values[5], [-30.0, -25.714285714285715, -21.428571428571427])
    indices = np.array([7, 3, 3, 0, len(dataset) - 1, 5])  # unsorted, repeated: h5py needs sorted unique rows
    assert marked_index(dataset.read(indices)).tolist() == indices.tolist()
    np.testing.assert_array_equal(dataset.index_to_factors(indices), grid_classes(SMALL_SHAPES3D)[indices])
    images = dataset.images(indices, "cpu")
    assert images.shape == (6, 3, 64, 64) and images.dtype == torch.float32
    assert dataset.read(np.array([], dtype=np.int64)).shape == (0, 64, 64, 3)


def test_shapes3d_file_samples_and_renders_like_the_procedural_set(shapes3d_file):
    dataset = Shapes3DFile(DatasetSpec(name="shapes3d", path=str(shapes3d_file), image_size=16))
    factors = dataset.sample_factors(40, np.random.default_rng(1))
    assert factors.shape == (40, 6) and (factors < np.asarray(SMALL_SHAPES3D)).all()
    assert dataset.render(factors).shape == (40, 3, 16, 16)
    table = dataset.factor_value_table(factors[:3])
    assert set(table) == set(Shapes3D.factor_names) and len(table["scale"]) == 3


# -- MPI3D ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(460_800, (4, 4, 2, 3, 3, 40, 40)), (1_036_800, (6, 6, 2, 3, 3, 40, 40))],
)
def test_mpi3d_layout_follows_from_the_image_count(count, sizes):
    assert mpi3d_layout(count, "mpi3d.npz") == sizes and math.prod(sizes) == count


def test_mpi3d_full_size_file_is_memory_mapped(tmp_path):
    asked = np.array([460_799, 0, 12_345, 300_000, 12_345])
    path = write_mpi3d(tmp_path / "mpi3d_toy.npz", 460_800, marked=asked)
    assert path.stat().st_blocks * 512 < 100 * 2**20  # sparse on disk, 5.7 GB long
    dataset = load_dataset(DatasetSpec(name="mpi3d", path=str(path)))
    assert isinstance(dataset, MPI3D) and isinstance(dataset._images, np.memmap)
    assert dataset.factor_sizes == (4, 4, 2, 3, 3, 40, 40) and len(dataset) == 460_800
    assert dataset.factor_names[0] == "object_color" and dataset.factor_names[-1] == "vertical_axis"
    assert marked_index(dataset.read(asked)).tolist() == asked.tolist()
    factors = dataset.index_to_factors(asked)
    assert factors[0].tolist() == [3, 3, 1, 2, 2, 39, 39] and factors[1].tolist() == [0] * 7
    assert torch.equal(dataset.render(factors), dataset.images(asked))


def test_mpi3d_with_another_image_count_is_an_unknown_layout(tmp_path):
    path = write_mpi3d(tmp_path / "mpi3d_toy.npz", 1000)
    with pytest.raises(
        DatasetError,
        match=r"mpi3d_toy.npz: 1,000 images fit no MPI3D factor layout.*1,036,800.*460,800",
    ):
        MPI3D(DatasetSpec(name="mpi3d", path=str(path)))


def test_a_compressed_mpi3d_member_is_refused_with_the_reason(tmp_path):
    path = write_mpi3d(tmp_path / "mpi3d_real.npz", 1000, compressed=True)
    with pytest.raises(DatasetError, match=r"mpi3d_real.npz: 'images' is stored compressed .*np.savez"):
        MPI3D(DatasetSpec(name="mpi3d", path=str(path)))


def test_a_truncated_mpi3d_member_is_refused(tmp_path):
    """A stub: the header declares 460,800 rows, the member holds 10 (a zip of consistent sizes)."""
    path = tmp_path / "mpi3d_toy.npz"
    write_npz(
        path,
        {
            "images": (
                (10, 64, 64, 3),
                lambda start, n: np.zeros((n, 64, 64, 3), np.uint8),
            )
        },
        compressed=False,
    )
    data = path.read_bytes()
    declared, claimed = b"(10, 64, 64, 3), }", b"(460800, 64, 64, 3), }"
    padding = b" " * (len(claimed) - len(declared))
    assert declared + padding in data  # the header's padding absorbs the longer shape: same member size
    path.write_bytes(data.replace(declared + padding, claimed))
    with pytest.raises(
        DatasetError,
        match=r"mpi3d_toy.npz: 'images' declares shape \(460800, 64, 64, 3\).*truncated",
    ):
        MPI3D(DatasetSpec(name="mpi3d", path=str(path)))


def test_the_writer_writes_what_np_savez_writes(tmp_path):
    """The format-exact writer's members are byte-identical to numpy's own."""
    array = np.arange(4 * 64 * 64 * 3, dtype=np.uint8).reshape(4, 64, 64, 3)
    np.savez(tmp_path / "numpy.npz", images=array)
    write_npz(
        tmp_path / "ours.npz",
        {"images": ((4, 64, 64, 3), lambda start, n: array[start : start + n])},
        compressed=False,
        rows_per_chunk=3,
    )
    with (
        zipfile.ZipFile(tmp_path / "numpy.npz") as theirs,
        zipfile.ZipFile(tmp_path / "ours.npz") as ours,
    ):
        assert theirs.read("images.npy") == ours.read("images.npy")
        assert theirs.getinfo("images.npy").compress_type == ours.getinfo("images.npy").compress_type


# -- CelebA -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def celeba_folder(tmp_path_factory):
    return write_celeba(tmp_path_factory.mktemp("celeba") / "celeba", 24)


def test_celeba_attributes_are_binary_factors(celeba_folder):
    dataset = load_dataset(DatasetSpec(name="celeba", path=str(celeba_folder), image_size=32))
    assert isinstance(dataset, CelebA) and len(dataset) == 24 and dataset.channels == 3
    assert len(dataset.factor_names) == 40 and set(dataset.factor_sizes) == {2}
    lines = (celeba_folder / "list_attr_celeba.txt").read_text().splitlines()[2:]
    expected = (np.array([line.split()[1:] for line in lines], dtype=np.int64) > 0).astype(np.int64)
    np.testing.assert_array_equal(dataset.index_to_factors(np.arange(24)), expected)
    images = dataset.images(np.array([0, 5]))
    assert images.shape == (2, 3, 32, 32)
    # each test image is one flat colour from its first three attributes: 20 (absent) or 220 (present)
    torch.testing.assert_close(
        images[1].mean(dim=(1, 2)),
        torch.tensor(expected[5, :3] * 200 + 20.0, dtype=torch.float32) / 255,
        rtol=0,
        atol=0.03,
    )


def test_labelled_rows_render_exact_rows_or_the_nearest_combination(celeba_folder):
    dataset = CelebA(DatasetSpec(name="celeba", path=str(celeba_folder), image_size=16))
    rows = np.array([3, 3, 7])
    factors = dataset.index_to_factors(rows)
    assert dataset.factors_to_index(factors).tolist() == [
        3,
        3,
        7,
    ]  # each combination is one row here
    assert (
        dataset.sample_factors(50, np.random.default_rng(2)).tolist()[0]
        in dataset.index_to_factors(np.arange(24)).tolist()
    )
    # an intervention: row 3 with one attribute flipped, a combination no row has -> row 3 is nearest
    flipped = factors[:1].copy()
    flipped[0, 10] = 1 - flipped[0, 10]
    assert dataset.factors_to_index(flipped).tolist() == [3]
    assert dataset.render(flipped).shape == (1, 3, 16, 16)


# -- which loader -----------------------------------------------------------------------


def test_without_a_path_dsprites_and_shapes3d_stay_procedural():
    assert type(load_dataset(DatasetSpec(name="dsprites", image_size=16))) is DSprites
    assert type(load_dataset(DatasetSpec(name="shapes3d", image_size=16))) is Shapes3D


@pytest.mark.parametrize(("name", "needs"), [("mpi3d", "mpi3d_toy.npz"), ("celeba", "img_align_celeba")])
def test_file_only_datasets_need_a_path(name, needs):
    with pytest.raises(DatasetError, match=f"{name} needs --data-path.*{needs}"):
        load_dataset(DatasetSpec(name=name))


def test_a_factors_csv_labels_folders_only(dsprites_file, tmp_path):
    with pytest.raises(DatasetError, match="labels an image folder"):
        load_dataset(
            DatasetSpec(
                name="dsprites",
                path=str(dsprites_file),
                factors=str(tmp_path / "f.csv"),
            )
        )


def test_the_dataset_interface_imports_no_dataset_module():
    """data/base.py is imported by every loader; the registry, not base, knows the loaders (base
    imports only the dataset's name and error, :mod:`latentatlas.data.spec`)."""
    import ast
    from pathlib import Path

    from latentatlas.data import base

    tree = ast.parse(Path(base.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {name for name in imported if name.startswith("latentatlas")} == {"latentatlas.data.spec"}
    assert not hasattr(base, "load_dataset")
