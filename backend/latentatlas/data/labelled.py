"""Labelled images: every image has a row of factor labels, but not every combination exists
(CelebA's attributes, the user's folder with a factors CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from latentatlas.data.factor_table import FactorTable, read_factor_table
from latentatlas.data.folder import UNREADABLE, read_image
from latentatlas.data.spec import DatasetError, DatasetSpec
from latentatlas.data.stored import StoredRows

NEAREST_CHUNK = 256  # factor vectors matched against every combination at once


class LabelledRows(StoredRows):
    """A :class:`FactorDataset` over labelled rows (their images read by ``read``).

    Sampling factors samples rows, so every sampled combination exists. ``render(factors)``
    gives, for each factor vector, the image of a row with exactly those factors: the i-th
    request for one combination within a call gets its i-th row (cycling), so a batch of one
    combination shows different images. A combination no row has (an intervention that fixes one
    factor of another row's) gets a row of the nearest combination that exists: the fewest factors
    differing, ties to the lexicographically first. Index -> factors is the row's labels.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        names: tuple[str, ...],
        classes: np.ndarray,
        values: tuple[np.ndarray, ...],
    ) -> None:
        self.factor_names = names
        self.factor_values = values
        self.factor_sizes = tuple(len(v) for v in values)
        self.image_size = spec.image_size
        self._classes = np.ascontiguousarray(classes, dtype=np.int64)
        self._combinations, combination_of_row = np.unique(self._classes, axis=0, return_inverse=True)
        combination_of_row = combination_of_row.ravel()
        self._rows_by_combination = np.argsort(combination_of_row, kind="stable")
        self._counts = np.bincount(combination_of_row, minlength=len(self._combinations))
        self._starts = np.cumsum(self._counts) - self._counts
        self._lookup = {row.tobytes(): i for i, row in enumerate(self._combinations)}
        self._one_hot: np.ndarray | None = None  # the combinations', built at the first miss
        self._requested = self._substituted = 0
        super().__init__(spec)

    intervention_rule = (
        "a factor combination no image has gets an image of the nearest existing combination "
        "(fewest factors differing, ties to the lexicographically first)"
    )

    def intervention_counts(self) -> dict[str, int]:
        return {"requested": self._requested, "substituted": self._substituted}

    def __len__(self) -> int:
        return len(self._classes)

    def index_to_factors(self, indices: np.ndarray) -> np.ndarray:
        return self._classes[np.asarray(indices, dtype=np.int64)]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._classes[rng.integers(0, len(self), size=n)]

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        factors = np.ascontiguousarray(np.asarray(factors, dtype=np.int64).reshape(-1, len(self.factor_sizes)))
        combinations = np.array([self._lookup.get(row.tobytes(), -1) for row in factors], dtype=np.int64)
        missing = combinations < 0
        self._requested += len(combinations)
        self._substituted += int(missing.sum())
        if missing.any():
            combinations[missing] = self._nearest(factors[missing])
        order = np.argsort(combinations, kind="stable")
        grouped = combinations[order]
        ranks = np.empty_like(combinations)
        ranks[order] = np.arange(len(grouped)) - np.searchsorted(grouped, grouped, side="left")
        return self._rows_by_combination[self._starts[combinations] + ranks % self._counts[combinations]]

    def _encode(self, factors: np.ndarray) -> np.ndarray:
        """One-hot codes (n, sum of sizes): a dot product of two counts the factors they share."""
        offsets = np.cumsum(self.factor_sizes) - np.asarray(self.factor_sizes)
        codes = np.zeros((len(factors), sum(self.factor_sizes)), dtype=np.float32)
        np.put_along_axis(
            codes,
            np.clip(factors, 0, np.asarray(self.factor_sizes) - 1) + offsets,
            1.0,
            axis=1,
        )
        return codes

    def _nearest(self, factors: np.ndarray) -> np.ndarray:
        """The existing combination sharing the most factors with each row of ``factors``."""
        if self._one_hot is None:
            self._one_hot = self._encode(self._combinations)
        return np.concatenate(
            [
                np.argmax(
                    self._encode(factors[start : start + NEAREST_CHUNK]) @ self._one_hot.T,
                    axis=1,
                )
                for start in range(0, len(factors), NEAREST_CHUNK)
            ]
        )


class LabelledFolder(LabelledRows):
    """The user's images with a factors CSV (:mod:`latentatlas.data.factor_table`): the CSV's files,
    relative to the folder, in the CSV's order, held in memory at the model's size."""

    name = "folder"

    def __init__(self, spec: DatasetSpec) -> None:
        root, csv_path = Path(spec.path or ""), Path(spec.factors or "")
        if not root.is_dir():
            raise DatasetError(f"image folder {root} does not exist")
        self.channels = spec.channels
        self.table: FactorTable = read_factor_table(csv_path)
        inside = root.resolve()
        paths = [(inside / name).resolve() for name in self.table.files]
        outside = [name for name, path in zip(self.table.files, paths) if not path.is_relative_to(inside)]
        if outside:
            raise DatasetError(f"{csv_path}: files outside the image folder {root}: {', '.join(outside[:5])}")
        missing = [name for name, path in zip(self.table.files, paths) if not path.is_file()]
        if missing:
            raise DatasetError(
                f"{csv_path}: {len(missing)} listed file(s) missing under {root}: {', '.join(missing[:5])}"
            )
        pixels = np.empty(
            (len(paths), spec.image_size, spec.image_size, spec.channels),
            dtype=np.uint8,
        )
        for k, path in enumerate(
            tqdm(
                paths,
                desc=f"loading {root.name}",
                unit="img",
                disable=len(paths) < 1000,
            )
        ):
            try:
                pixels[k] = read_image(path, spec.image_size, spec.channels)
            except UNREADABLE as error:
                raise DatasetError(f"{csv_path}: {self.table.files[k]} is not a readable image ({error})") from error
        self._pixels = pixels
        super().__init__(spec, self.table.names, self.table.classes, self.table.values)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return self._pixels[indices]

    def describe(self) -> dict:
        """With the factors file and how its continuous factors were binned."""
        return {
            **super().describe(),
            "factors_file": self.spec.factors,
            "factor_binning": self.table.binning,
        }
