"""Which generative factor an ensemble's hotspot follows: the mean, over the hotspot's channels,
of each channel's NMI with each factor (the analysis' channels x factors ``nmi_factor``), and the
factor where that mean is highest."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def hotspot_factor_means(nmi_factor: np.ndarray, channels: Sequence[int]) -> np.ndarray:
    """Per factor (K), the mean NMI of ``channels`` (rows of ``nmi_factor``, M x K) with it,
    ignoring NaN entries; NaN where every entry is NaN (or there are no channels)."""
    rows = np.asarray(nmi_factor, dtype=np.float64)[list(channels)]
    known = np.isfinite(rows)
    counts = known.sum(axis=0)
    sums = np.where(known, rows, 0.0).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def best_factor(means: np.ndarray, factor_names: Sequence[str]) -> tuple[str, float] | None:
    """The factor with the highest finite mean NMI and that mean (ties: the later name in
    alphabetical order), or None when no mean is finite."""
    finite = [(float(mean), name) for name, mean in zip(factor_names, means) if np.isfinite(mean)]
    if not finite:
        return None
    value, name = max(finite)
    return name, value
