"""What names a dataset in a model's ``config.json``, and the error a bad dataset raises (no torch:
the server indexes model folders with it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

DatasetName = Literal["dsprites", "shapes3d", "mpi3d", "celeba", "folder"]


class DatasetError(ValueError):
    """A dataset file or folder is not what it claims to be; the message names the file and what is wrong."""


class DatasetSpec(BaseModel):
    """Typed description of a dataset, stored in each model's ``config.json``."""

    model_config = ConfigDict(frozen=True)

    name: DatasetName
    # The official file or folder (dsprites and shapes3d are procedural without one), or an image folder.
    path: str | None = None
    factors: str | None = None  # image folder only: a CSV of factor labels, one row per image file
    channels: Literal[1, 3] = 3  # image folder only: greyscale or RGB (the other sets fix their own)
    image_size: int = 64
    holdout: int = 1000  # samples kept out of training for evaluation
    holdout_seed: int = 12345
