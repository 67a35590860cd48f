"""Hotspots: clusters of near-identical channels across an ensemble
(Murphy, Dillavou & Bassett, TMLR 2025, arXiv 2405.21042).

Channels under 0.01 bits are dropped; the rest are clustered with OPTICS
(scikit-learn, xi method) on a precomputed distance, either clip(VI, 0) or
-log(clip(NMI, 1e-4)).  A hotspot is one OPTICS cluster.

min_samples is set by a rule fixed by the ensemble's design (default_min_samples), not
chosen per result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentatlas.fragments.fingerprint import ACTIVE_THRESHOLD_BITS

NMI_FLOOR = 1e-4
MIN_SAMPLES_RULE = "runs_per_configuration"


def default_min_samples(runs_per_configuration: int) -> int:
    """OPTICS min_samples = the number of runs (seeds) per configuration, at least 2.

    A hotspot is "a group of near-identical channels that recurs across runs" (Murphy,
    Dillavou & Bassett, TMLR 2025, arXiv 2405.21042).  With the xi method a cluster holds at
    least min_samples channels, so this rule asks a fragment to recur at least as often as one
    setting (one beta) has runs: every run of one beta finding it once, or fewer runs of
    several betas.  The paper's code uses 20 for ensembles of 25-50 runs per setting, the same
    order; this rule follows the design instead of a constant, and is fixed before any result
    is seen.  (OPTICS needs at least 2.)
    """
    if runs_per_configuration < 1:
        raise ValueError(f"runs_per_configuration must be >= 1, got {runs_per_configuration}")
    return max(2, int(runs_per_configuration))


@dataclass(frozen=True)
class Hotspot:
    label: int
    members: np.ndarray  # channel indices (into the full channel list)
    mean_info_bits: float


@dataclass(frozen=True)
class HotspotResult:
    channels: np.ndarray  # (A,) indices of the active channels that were clustered
    ordering: np.ndarray  # (A,) OPTICS ordering, as channel indices
    reachability: np.ndarray  # (A,) reachability in OPTICS order (inf for the first)
    labels: np.ndarray  # (M,) cluster label per channel; -1 noise, -2 inactive
    hotspots: tuple[Hotspot, ...]


def hotspot_distance(nmi: np.ndarray | None = None, vi: np.ndarray | None = None) -> np.ndarray:
    """clip(VI, 0) if ``vi`` is given, else -log(clip(NMI, 1e-4)); symmetric, zero diagonal."""
    if vi is not None:
        distance = np.clip(np.asarray(vi, dtype=np.float64), 0.0, None)
    elif nmi is not None:
        distance = -np.log(np.clip(np.nan_to_num(np.asarray(nmi, dtype=np.float64), nan=0.0), NMI_FLOOR, 1.0))
    else:
        raise ValueError("give nmi or vi")
    distance = 0.5 * (distance + distance.T)
    np.fill_diagonal(distance, 0.0)
    return distance


def compute_hotspots(
    info_bits: np.ndarray,
    nmi: np.ndarray | None = None,
    vi: np.ndarray | None = None,
    *,
    min_samples: int,
    threshold_bits: float = ACTIVE_THRESHOLD_BITS,
    xi: float = 0.05,
) -> HotspotResult:
    """OPTICS (xi method) over the active channels on distance clip(VI, 0) or -log(clip(NMI, 1e-4)).

    ``info_bits`` (M,), ``nmi`` / ``vi`` (M, M) from compute_similarity; VI is
    used when given.  ``min_samples`` (paper: 20; default_min_samples gives the
    rule) is capped at the number of active channels.  Each hotspot lists its members and their mean information.
    """
    info_bits = np.asarray(info_bits, dtype=np.float64)
    active = np.flatnonzero(info_bits >= threshold_bits)
    labels = np.full(info_bits.shape[0], -2, dtype=np.int64)
    if active.size < 2:
        labels[active] = -1
        return HotspotResult(active, active, np.full(active.size, np.inf), labels, ())
    full = hotspot_distance(nmi=nmi, vi=vi)
    distance = full[np.ix_(active, active)]
    from sklearn.cluster import (
        OPTICS,  # imported on use: scikit-learn takes seconds to import, the server rarely needs it
    )

    optics = OPTICS(
        min_samples=max(2, min(min_samples, active.size)), metric="precomputed", cluster_method="xi", xi=xi
    ).fit(distance)
    labels[active] = optics.labels_
    hotspots = tuple(
        Hotspot(label=int(c), members=active[in_c], mean_info_bits=float(info_bits[active][in_c].mean()))
        for c in np.unique(optics.labels_)
        if c >= 0
        for in_c in [optics.labels_ == c]
    )
    return HotspotResult(
        channels=active,
        ordering=active[optics.ordering_],
        reachability=optics.reachability_[optics.ordering_],
        labels=labels,
        hotspots=hotspots,
    )
