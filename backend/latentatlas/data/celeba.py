"""CelebA (Liu et al. 2015): ``img_align_celeba/`` and ``list_attr_celeba.txt`` in one folder.

The attribute file: line 1 the image count, line 2 the 40 attribute names, then one line per
image, ``000001.jpg  -1  1 ...`` (space separated, -1 absent / 1 present). The 40 binary
attributes are the factors (class 0 absent, 1 present). The aligned images (178 x 218 JPEG)
are decoded when asked: the centre 140 x 140 square, resized to the model's size.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from latentatlas.data.folder import UNREADABLE
from latentatlas.data.labelled import LabelledRows
from latentatlas.data.spec import DatasetError, DatasetSpec

ATTRIBUTES_FILE = "list_attr_celeba.txt"
IMAGES_FOLDER = "img_align_celeba"
ATTRIBUTES = 40
CROP = 140


def read_attributes(path: Path) -> tuple[list[str], tuple[str, ...], np.ndarray]:
    """The image file names, attribute names and attribute classes (N, 40) of ``list_attr_celeba.txt``."""
    try:
        lines = [line.split() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: not a readable attribute list ({error})") from error
    if len(lines) < 2 or len(lines[0]) != 1 or not lines[0][0].isdigit():
        raise DatasetError(f"{path}: line 1 must be the image count")
    if len(lines[1]) != ATTRIBUTES:
        raise DatasetError(f"{path}: line 2 names {len(lines[1])} attributes; CelebA has {ATTRIBUTES}")
    rows = lines[2:]
    if len(rows) != int(lines[0][0]):
        raise DatasetError(
            f"{path}: line 1 announces {int(lines[0][0]):,} images but {len(rows):,} lines follow (truncated?)"
        )
    for number, row in enumerate(rows, start=3):
        if len(row) != ATTRIBUTES + 1 or any(cell not in ("-1", "1") for cell in row[1:]):
            raise DatasetError(f"{path}, line {number}: expected a file name and {ATTRIBUTES} values of -1 or 1")
    classes = (np.array([row[1:] for row in rows], dtype=np.int64) > 0).astype(np.int64)
    return [row[0] for row in rows], tuple(lines[1]), classes


class CelebA(LabelledRows):
    name = "celeba"
    channels = 3

    def __init__(self, spec: DatasetSpec) -> None:
        root = Path(spec.path or "")
        attributes, self._folder = root / ATTRIBUTES_FILE, root / IMAGES_FOLDER
        if not attributes.is_file() or not self._folder.is_dir():
            raise DatasetError(f"{root}: a CelebA folder holds {ATTRIBUTES_FILE} and {IMAGES_FOLDER}/")
        self._files, names, classes = read_attributes(attributes)
        present = set(os.listdir(self._folder))
        missing = [name for name in self._files if name not in present]
        if missing:
            raise DatasetError(
                f"{self._folder}: {len(missing):,} image(s) of {ATTRIBUTES_FILE} missing: {', '.join(missing[:5])}"
            )
        super().__init__(spec, names, classes, tuple(np.array([0.0, 1.0]) for _ in names))
        self.read(np.array([0]))  # an unreadable image format fails here

    def read(self, indices: np.ndarray) -> np.ndarray:
        if not len(indices):
            return np.empty((0, self.image_size, self.image_size, 3), dtype=np.uint8)
        return np.stack([self._decode(int(index)) for index in indices])

    def _decode(self, index: int) -> np.ndarray:
        path = self._folder / self._files[index]
        try:
            with Image.open(path) as image:
                side = min(CROP, image.width, image.height)
                left, top = (image.width - side) // 2, (image.height - side) // 2
                square = image.convert("RGB").crop((left, top, left + side, top + side))
                return np.asarray(square.resize((self.image_size, self.image_size), Image.Resampling.LANCZOS))
        except UNREADABLE as error:
            raise DatasetError(f"{path}: not a readable image ({error})") from error
