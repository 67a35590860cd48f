"""The user's own images: every image file under a folder, resized and centre-cropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm import tqdm

from latentatlas.data.base import ImageDataset
from latentatlas.data.spec import DatasetSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
UNREADABLE = (OSError, ValueError, Image.DecompressionBombError)


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square, then resize to ``size`` x ``size`` (Lanczos)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


def read_image(path: Path, size: int, channels: int) -> np.ndarray:
    """An image file decoded with its EXIF rotation honoured, then :func:`fit_square`: uint8 (size, size, channels).
    Raises one of ``UNREADABLE`` when the file is not a readable image."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("L" if channels == 1 else "RGB")
        return np.asarray(fit_square(image, size)).reshape(size, size, channels)


class ImageFolder(ImageDataset):
    """Images under ``spec.path`` (recursively), held in memory as uint8 at the model's size.

    Files are read once at construction with EXIF rotation honoured; an unreadable file is
    skipped and counted in ``skipped``. There are no ground-truth factors.
    """

    name = "folder"

    def __init__(self, spec: DatasetSpec, channels: int = 3) -> None:
        if not spec.path:
            raise ValueError("an image-folder dataset needs a path")
        root = Path(spec.path)
        if not root.is_dir():
            raise ValueError(f"image folder {root} does not exist")
        self.channels = channels
        self.image_size = spec.image_size
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        arrays, self.skipped = [], 0
        for path in tqdm(files, desc=f"loading {root.name}", unit="img", disable=len(files) < 1000):
            try:
                arrays.append(read_image(path, spec.image_size, channels))
            except UNREADABLE:
                self.skipped += 1
        if not arrays:
            raise ValueError(f"no readable images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
        self._pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        super().__init__(spec)

    def __len__(self) -> int:
        return self._pixels.shape[0]

    def images(self, indices: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        return self._pixels[torch.as_tensor(np.asarray(indices))].to(device, torch.float32) / 255.0
