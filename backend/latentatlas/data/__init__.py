"""Datasets: procedural dSprites and Shapes3D-like scenes, and the user's own image folders."""

from latentatlas.data.base import DatasetSpec, FactorDataset, ImageDataset, load_dataset
from latentatlas.data.dsprites import DSprites
from latentatlas.data.folder import ImageFolder
from latentatlas.data.shapes3d import Shapes3D

__all__ = ["DSprites", "DatasetSpec", "FactorDataset", "ImageDataset", "ImageFolder", "Shapes3D", "load_dataset"]
