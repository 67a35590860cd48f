"""Files that are not what they claim: each loader refuses them with a DatasetError that names the
file and what is wrong (never a traceback from numpy, zipfile or h5py; nothing is unpickled)."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_files import (
    grid_classes,
    write_celeba,
    write_dsprites,
    write_mpi3d,
    write_npz,
    write_shapes3d,
)
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetError, DatasetSpec

SMALL = (1, 3, 2, 2, 4, 4)


def _open(name: str, path) -> None:
    load_dataset(DatasetSpec(name=name, path=str(path)))


def _refused(name: str, path, message: str) -> None:
    with pytest.raises(DatasetError, match=message) as raised:
        _open(name, path)
    assert str(path) in str(raised.value) or path.name in str(raised.value)


def _dsprites_arrays(**override) -> dict:
    classes = grid_classes(SMALL)
    arrays = {
        "imgs": np.zeros((len(classes), 64, 64), np.uint8),
        "latents_classes": classes,
        "latents_values": classes.astype(np.float64),
    }
    return {**arrays, **override}


# -- not the claimed format -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("dsprites", "not an .npz archive"),
        ("mpi3d", "not an .npz archive"),
        ("shapes3d", "not an HDF5 file"),
    ],
)
def test_a_text_file_is_not_a_dataset(tmp_path, name, message):
    path = tmp_path / "data.bin"
    path.write_text("hello, I am not a dataset\n" * 10)
    _refused(name, path, message)


def test_an_h5_file_is_not_an_npz_and_an_npz_is_not_an_h5(tmp_path):
    h5 = write_shapes3d(tmp_path / "3dshapes.h5", (2, 2, 2, 2, 2, 2))
    _refused("dsprites", h5, "not an .npz archive")
    npz = write_npz(tmp_path / "d.npz", _dsprites_arrays(), compressed=True)
    _refused("shapes3d", npz, "not an HDF5 file")


def test_a_single_npy_array_is_not_an_npz(tmp_path):
    path = tmp_path / "images.npz"
    with path.open("wb") as stream:
        np.save(stream, np.zeros((4, 64, 64, 3), np.uint8))
    _refused("mpi3d", path, "a single .npy array, not an .npz archive")


def test_a_missing_file_or_a_folder_is_refused(tmp_path):
    _refused("dsprites", tmp_path / "nope.npz", "does not exist")
    _refused("shapes3d", tmp_path, "does not exist or is not a file")


# -- truncated ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dsprites", "mpi3d", "shapes3d"])
def test_truncated_files_are_refused(tmp_path, name):
    if name == "dsprites":
        path = write_dsprites(tmp_path / "d.npz", SMALL)
    elif name == "mpi3d":
        path = write_mpi3d(tmp_path / "m.npz", 1000)
    else:
        path = write_shapes3d(tmp_path / "s.h5", (2, 2, 3, 2, 2, 3))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    _refused(name, path, "truncated|damaged|cannot read")


def test_a_damaged_compressed_member_is_refused(tmp_path):
    path = write_dsprites(tmp_path / "d.npz", SMALL)
    data = bytearray(path.read_bytes())
    start = data.index(b"imgs.npy") + 200  # inside the deflated images
    data[start : start + 64] = bytes(range(64))
    path.write_bytes(bytes(data))
    _refused("dsprites", path, "'imgs' is damaged|cannot read|truncated")


# -- wrong arrays ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"imgs": np.zeros((len(grid_classes(SMALL)), 64, 64), np.float32)},
            r"'imgs' is float32 .*expected uint8",
        ),
        (
            {"imgs": np.zeros((len(grid_classes(SMALL)), 32, 32), np.uint8)},
            r"'imgs' is uint8 with shape \(192, 32, 32\); expected uint8 with shape \(192, 64, 64\)",
        ),
        (
            {"imgs": np.zeros((10, 64, 64), np.uint8)},
            r"expected uint8 with shape \(192, 64, 64\)",
        ),
        (
            {"imgs": np.full((len(grid_classes(SMALL)), 64, 64), 255, np.uint8)},
            "dSprites pixels are 0 or 1",
        ),
        (
            {"latents_classes": grid_classes(SMALL).astype(np.int32)},
            "'latents_classes' is int32.*expected int64",
        ),
        (
            {"latents_classes": grid_classes(SMALL)[::-1].copy()},
            "not in the factor grid's C order",
        ),
        (
            {"latents_classes": grid_classes(SMALL)[:, :5].copy()},
            r"must both be \(images, 6\)",
        ),
        (
            {"latents_classes": grid_classes((2, 3, 2, 2, 2, 4))},
            "not a complete factor grid|dSprites has one color|expected",
        ),
        (
            {"latents_classes": np.repeat(grid_classes(SMALL)[:96], 2, axis=0)},
            "not a complete factor grid",
        ),
    ],
)
def test_wrong_dsprites_arrays_are_refused(tmp_path, override, message):
    path = write_npz(tmp_path / "dsprites.npz", _dsprites_arrays(**override), compressed=True)
    _refused("dsprites", path, message)


def test_a_missing_array_is_named_with_those_present(tmp_path):
    arrays = _dsprites_arrays()
    del arrays["latents_values"]
    path = write_npz(tmp_path / "dsprites.npz", arrays, compressed=True)
    _refused("dsprites", path, r"no 'latents_values' array \(it has: imgs, latents_classes\)")


def test_an_object_array_is_never_unpickled(tmp_path):
    arrays = _dsprites_arrays()
    del arrays["latents_classes"]
    path = write_npz(
        tmp_path / "dsprites.npz",
        arrays,
        compressed=True,
        pickled={"latents_classes": {"evil": 1}},
    )
    _refused("dsprites", path, "cannot read 'latents_classes'")


def test_wrong_mpi3d_image_shapes_are_refused(tmp_path):
    path = write_npz(
        tmp_path / "mpi3d_toy.npz",
        {"images": np.zeros((4, 64, 64), np.uint8)},
        compressed=False,
    )
    _refused(
        "mpi3d",
        path,
        r"'images' is uint8 with shape \(4, 64, 64\); expected uint8 with shape \(N, 64, 64, 3\)",
    )


def test_wrong_shapes3d_arrays_are_refused(tmp_path):
    import h5py

    path = tmp_path / "3dshapes.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("images", data=np.zeros((64, 64, 64, 3), np.uint8))
        file.create_dataset("labels", data=np.zeros((64, 6), np.float32))
    _refused("shapes3d", path, "'labels' is float32")
    with h5py.File(path, "w") as file:
        file.create_dataset("images", data=np.zeros((8, 64, 64, 3), np.uint8))
        file.create_dataset("labels", data=np.random.default_rng(0).random((8, 6)))
    _refused("shapes3d", path, "not a complete factor grid")
    with h5py.File(path, "w") as file:
        file.create_dataset("pictures", data=np.zeros((2, 64, 64, 3), np.uint8))
    _refused("shapes3d", path, r"no 'images' dataset \(it has: pictures\)")


# -- CelebA -----------------------------------------------------------------------------


def _attribute_lines(root) -> list[str]:
    return (root / "list_attr_celeba.txt").read_text().splitlines()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda lines: ["3", *lines[1:]],
            "line 1 announces 3 images but 5 lines follow",
        ),
        (
            lambda lines: [*lines[:1], " ".join(lines[1].split()[:39]), *lines[2:]],
            "line 2 names 39 attributes",
        ),
        (
            lambda lines: ([*lines[:3], lines[3].replace(" 1", " 0", 1).replace("-1", "0", 1), *lines[4:]]),
            r"line 4: expected a file name and 40 values",
        ),
        (lambda lines: ["five", *lines[1:]], "line 1 must be the image count"),
    ],
)
def test_bad_celeba_attribute_files_are_refused(tmp_path, edit, message):
    root = write_celeba(tmp_path / "celeba", 5)
    (root / "list_attr_celeba.txt").write_text("\n".join(edit(_attribute_lines(root))) + "\n")
    with pytest.raises(DatasetError, match=message):
        _open("celeba", root)


def test_celeba_missing_or_unreadable_images_are_refused(tmp_path):
    root = write_celeba(tmp_path / "celeba", 5)
    (root / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(DatasetError, match=r"1 image\(s\) of list_attr_celeba.txt missing: 000003.jpg"):
        _open("celeba", root)
    (root / "img_align_celeba" / "000003.jpg").write_bytes(b"not a jpeg")
    (root / "img_align_celeba" / "000001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="000001.jpg: not a readable image"):
        _open("celeba", root)
    with pytest.raises(
        DatasetError,
        match="a CelebA folder holds list_attr_celeba.txt and img_align_celeba/",
    ):
        _open("celeba", tmp_path)
