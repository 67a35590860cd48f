"""The user's factor labels: a CSV with a ``file`` column, then one column per factor.

A factor column is discrete when it has at most ``MAX_LEVELS`` distinct values (numbers or
labels: each value is one class, in sorted order) or holds labels that are not numbers.
A numeric column with more distinct values is continuous: it is cut into ``BINS``
equal-frequency bins (edges at its quantiles; bins left empty by ties are merged), each
class's value is the median of its rows, and the binning is recorded (it goes on the card),
because the information scores (MIG, InfoMEC, DCI ...) need discrete factors.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentatlas.data.spec import DatasetError

FILE_COLUMN = "file"
MAX_LEVELS = 20
BINS = 10


@dataclass(frozen=True)
class FactorTable:
    """Rows of a factors CSV: each file's factor classes (N, K) and each factor's class values."""

    files: tuple[str, ...]
    names: tuple[str, ...]
    classes: np.ndarray
    values: tuple[np.ndarray, ...]
    binning: dict[str, dict] = field(default_factory=dict)


def _binned(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Equal-frequency bins of a continuous column: classes, each bin's median, and the binning stated."""
    inner = np.unique(np.quantile(numbers, np.linspace(0, 1, BINS + 1))[1:-1])
    present, classes = np.unique(np.searchsorted(inner, numbers, side="right"), return_inverse=True)
    classes = classes.ravel()
    medians = np.array([np.median(numbers[classes == k]) for k in range(len(present))])
    binning = {
        "method": "equal-frequency",
        "bins": len(present),
        "edges": inner[present[1:] - 1].tolist(),
    }
    return classes, medians, binning


def _numbers(cells: list[str]) -> np.ndarray | None:
    """A column's cells as numbers, or None when one of them is not a number."""
    try:
        return np.array([float(cell) for cell in cells])
    except ValueError:
        return None


def _column(name: str, cells: list[str], path: Path) -> tuple[np.ndarray, np.ndarray, dict | None]:
    """One factor column's classes, class values and (continuous columns only) binning."""
    numbers = _numbers(cells)
    if numbers is not None and not np.isfinite(numbers).all():
        raise DatasetError(f"{path}: factor '{name}' has a value that is not a finite number (nan or inf)")
    labels, classes = np.unique(np.array(cells) if numbers is None else numbers, return_inverse=True)
    if len(labels) < 2:
        raise DatasetError(f"{path}: factor '{name}' has a single value ({labels[0]}); a constant is not a factor")
    if numbers is not None and len(labels) > MAX_LEVELS:
        return _binned(numbers)
    return classes.ravel(), labels, None


def read_factor_table(path: Path) -> FactorTable:
    """Parse and check a factors CSV: a ``file`` column first, unique non-empty factor names, every row
    as long as the header, no empty cell, no file listed twice."""
    if not path.is_file():
        raise DatasetError(f"factors file {path} does not exist or is not a file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path}: not a readable UTF-8 CSV file ({error})") from error
    if not rows or [cell.strip() for cell in rows[0][:1]] != [FILE_COLUMN]:
        raise DatasetError(f"{path}: the header must start with a '{FILE_COLUMN}' column, then one column per factor")
    names = tuple(cell.strip() for cell in rows[0][1:])
    if not names or "" in names or len(set(names)) != len(names):
        raise DatasetError(f"{path}: factor names must be present, non-empty and unique (got {list(names)})")
    body = [(line, row) for line, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    if not body:
        raise DatasetError(f"{path}: no rows after the header")
    for line, row in body:
        if len(row) != len(names) + 1:
            raise DatasetError(f"{path}, line {line}: {len(row)} fields; the header has {len(names) + 1}")
        if any(not cell.strip() for cell in row):
            raise DatasetError(f"{path}, line {line}: an empty field (every file needs every factor)")
    files = [row[0].strip() for _, row in body]
    twice = sorted(name for name, count in Counter(files).items() if count > 1)[:5]
    if twice:
        raise DatasetError(f"{path}: files listed more than once: {', '.join(twice)}")
    columns = [_column(name, [row[k + 1].strip() for _, row in body], path) for k, name in enumerate(names)]
    classes = np.stack([column[0] for column in columns], axis=1).astype(np.int64)
    binning = {name: column[2] for name, column in zip(names, columns) if column[2] is not None}
    return FactorTable(tuple(files), names, classes, tuple(column[1] for column in columns), binning)
