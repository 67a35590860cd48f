"""What a hotspot must beat: the channel-pair similarity of an ensemble of untrained encoders
(issue 22, item 6; hotspots: Murphy, Dillavou & Bassett, TMLR 2025, arXiv 2405.21042).

A hotspot is a group of near-identical channels recurring across members. Its *cohesion* is the
mean NMI over the pairs of its channels that belong to different members (NaN entries ignored).
An untrained ensemble (same architecture, random weights) gives the null: the NMI of every pair
of channels of different untrained members. A hotspot beats that null when its cohesion
exceeds the null's ``NULL_PERCENTILE``-th percentile: its channels agree more than 95 % of the
channel pairs that untrained networks give, by architecture alone.

Untrained encoders as initialised carry next to no information through their posteriors (their
means barely move against a posterior sd near 1), so that null is easy to beat;
:func:`match_signal_to_noise` gives the stricter one: each untrained channel's means rescaled so
that its signal-to-noise ratio sd_i(mu_k(x_i)) / mean_i(exp(logvar_k(x_i) / 2)) equals the
trained ensemble's median over its active channels (the random features' structure kept, at a
trained channel's information level).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NULL_PERCENTILE = 95.0


def hotspot_cohesion(nmi: np.ndarray, channels: Sequence[int] | np.ndarray, member_of: np.ndarray) -> float:
    """Mean NMI over the pairs of ``channels`` from different members (``member_of``: per
    channel, its member's index); NaN entries ignored, NaN when there is no such pair."""
    chosen = np.asarray(list(channels), dtype=np.int64)
    block = np.asarray(nmi, dtype=np.float64)[np.ix_(chosen, chosen)]
    owners = np.asarray(member_of)[chosen]
    values = block[owners[:, None] != owners[None, :]]
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def cross_member_percentile(nmi: np.ndarray, member_of: np.ndarray, percentile: float = NULL_PERCENTILE) -> float:
    """The ``percentile``-th percentile of the NMI of every pair of channels of different members
    (each pair once; NaN entries ignored), NaN when there is no such pair."""
    owners = np.asarray(member_of)
    upper = np.triu(owners[:, None] != owners[None, :], k=1)
    values = np.asarray(nmi, dtype=np.float64)[upper]
    values = values[np.isfinite(values)]
    return float(np.percentile(values, percentile)) if values.size else float("nan")


def signal_to_noise(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Per channel (M,): sd over the probe points of its posterior means over the mean posterior sd."""
    ratio: np.ndarray = np.asarray(mu).std(axis=1) / np.exp(np.asarray(logvar) / 2).mean(axis=1)
    return ratio


def match_signal_to_noise(mu: np.ndarray, logvar: np.ndarray, target: float) -> np.ndarray:
    """Posterior means (M, N) centred and rescaled per channel so that :func:`signal_to_noise`
    equals ``target``; a channel whose means do not vary stays constant (at 0)."""
    mu = np.asarray(mu, dtype=np.float64)
    centred = mu - mu.mean(axis=1, keepdims=True)
    ratio = signal_to_noise(mu, logvar)
    scale = np.divide(target, ratio, out=np.zeros_like(ratio), where=ratio > 0)
    matched: np.ndarray = centred * scale[:, None]
    return matched
