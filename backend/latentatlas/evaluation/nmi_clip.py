"""NMI estimates clipped to NMI's range [0, 1], counting what the clip changed.

The generalised NMI of :mod:`latentatlas.fragments.similarity` is a ratio of bound-based
information estimates, so it can leave [0, 1]: two nearly independent channels come out slightly
below 0 (down to about -0.3 between weak channels), two channels near the estimator's cap slightly
above 1. Both excursions are the estimator's bias, not information, so what is reported is
clip(NMI, 0, 1), with how many estimates were clipped each way and the extremes; the raw estimates
stay in the analysis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClippedNMI:
    """clip(NMI, 0, 1) and what the clip changed: estimates below 0 and above 1 (unordered channel
    pairs off the diagonal for a square channel x channel matrix, every entry otherwise) and the
    most extreme estimates (None when there were none). Non-finite entries stay NaN, uncounted."""

    values: np.ndarray
    below_zero: int
    above_one: int
    min_estimate: float | None
    max_estimate: float | None


def clip_nmi(nmi: np.ndarray, pairwise: bool) -> ClippedNMI:
    """``nmi`` (M, M) if ``pairwise`` (symmetric, each pair counted once) else (M, K), clipped to [0, 1]."""
    nmi = np.asarray(nmi, dtype=np.float64)
    counted = np.triu(np.ones(nmi.shape, dtype=bool), k=1) if pairwise else np.ones(nmi.shape, dtype=bool)
    estimates = nmi[counted & np.isfinite(nmi)]
    low, high = estimates[estimates < 0], estimates[estimates > 1]
    return ClippedNMI(
        values=np.clip(nmi, 0.0, 1.0),
        below_zero=int(low.size),
        above_one=int(high.size),
        min_estimate=float(low.min()) if low.size else None,
        max_estimate=float(high.max()) if high.size else None,
    )
