"""Datasets: procedural dSprites and Shapes3D, the field's official files (dSprites, Shapes3D,
MPI3D, CelebA) with their ground-truth factors, and the user's image folders (labelled or not)."""

from latentatlas.data.base import DatasetError, DatasetSpec, FactorDataset, ImageDataset
from latentatlas.data.celeba import CelebA
from latentatlas.data.dsprites import DSprites
from latentatlas.data.dsprites_file import DSpritesFile
from latentatlas.data.folder import ImageFolder
from latentatlas.data.labelled import LabelledFolder, LabelledRows
from latentatlas.data.mpi3d import MPI3D
from latentatlas.data.registry import load_dataset
from latentatlas.data.shapes3d import Shapes3D
from latentatlas.data.shapes3d_file import Shapes3DFile

__all__ = [
    "MPI3D",
    "CelebA",
    "DSprites",
    "DSpritesFile",
    "DatasetError",
    "DatasetSpec",
    "FactorDataset",
    "ImageDataset",
    "ImageFolder",
    "LabelledFolder",
    "LabelledRows",
    "Shapes3D",
    "Shapes3DFile",
    "load_dataset",
]
