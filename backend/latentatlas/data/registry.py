"""Dataset names -> loaders: the one place that knows every dataset module."""

from __future__ import annotations

from collections.abc import Callable

from latentatlas.data.base import ImageDataset
from latentatlas.data.celeba import CelebA
from latentatlas.data.dsprites import DSprites
from latentatlas.data.dsprites_file import DSpritesFile
from latentatlas.data.folder import ImageFolder
from latentatlas.data.labelled import LabelledFolder
from latentatlas.data.mpi3d import MPI3D
from latentatlas.data.shapes3d import Shapes3D
from latentatlas.data.shapes3d_file import Shapes3DFile
from latentatlas.data.spec import DatasetError, DatasetSpec

# name -> (procedural stand-in without a path or None, loader of the official file or folder)
LOADERS: dict[
    str,
    tuple[
        Callable[[DatasetSpec], ImageDataset] | None,
        Callable[[DatasetSpec], ImageDataset],
    ],
] = {
    "dsprites": (DSprites, DSpritesFile),
    "shapes3d": (Shapes3D, Shapes3DFile),
    "mpi3d": (None, MPI3D),
    "celeba": (None, CelebA),
    "folder": (
        None,
        lambda spec: LabelledFolder(spec) if spec.factors else ImageFolder(spec, channels=spec.channels),
    ),
}
WHAT_PATH = {
    "dsprites": "the dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz file",
    "shapes3d": "the 3dshapes.h5 file",
    "mpi3d": "an mpi3d_toy.npz, mpi3d_realistic.npz or mpi3d_real.npz file",
    "celeba": "the folder holding img_align_celeba/ and list_attr_celeba.txt",
    "folder": "a folder of images",
}


def load_dataset(spec: DatasetSpec) -> ImageDataset:
    """Open the dataset a spec describes: the official file when it has a path, else the procedural
    stand-in; a DatasetError (a ValueError) names the file and what is wrong."""
    procedural, from_path = LOADERS[spec.name]
    if spec.factors and spec.name != "folder":
        raise DatasetError(f"a factors CSV labels an image folder (--dataset folder); {spec.name} has its own factors")
    if spec.path:
        return from_path(spec)
    if procedural is None:
        raise DatasetError(f"{spec.name} needs --data-path: {WHAT_PATH[spec.name]}")
    return procedural(spec)
