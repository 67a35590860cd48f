"""A score beside what it must beat and what it can reach, under one scoring protocol: the
shuffled-rows null of a model's own latents and the ceiling of perfect latents on the same factor
samples (the array math is :mod:`latentatlas.metrics.baselines`). The zoo scores every member
this way; ``latentatlas evaluate`` adds the same to a model's card for the app's bars.
"""

from __future__ import annotations

import numpy as np

from latentatlas.metrics import compute_metrics
from latentatlas.metrics.baselines import NullResult, Scores, flatten_scores, perfect_latents, shuffled_null
from latentatlas.store.zoo import ZooProtocol

CARD_METRICS = ("mig", "sap", "modularity", "explicitness", "infomec")
"""The card's scores that get a null and a ceiling: those computed from latent rows against factor
rows. Exact DCI (minutes a fit) and the vote-based FactorVAE / BetaVAE scores (fresh
interventions, not rows) have none."""
CARD_NULL_REPEATS = 3


def protocol_scores(z: np.ndarray, codes: np.ndarray | None, y: np.ndarray, protocol: ZooProtocol) -> tuple[Scores, dict[str, bool]]:
    """The protocol's scores of latents ``z`` (and ``codes``) against factors ``y``, flat, and the
    flags (``infoe_near_zero``, ``infomec_codes.infoe_near_zero``)."""
    result = compute_metrics(z, y, metrics=protocol.metrics, seed=protocol.seed, n_jobs=1)
    flags = {}
    if "infomec" in result:
        flags["infomec.infoe_near_zero"] = bool(result["infomec"]["infoe_near_zero"])
    if codes is not None and "infomec" in protocol.metrics:
        discrete = compute_metrics(codes, y, metrics=["infomec"], discrete_latents=True, seed=protocol.seed, n_jobs=1)
        result["infomec_codes"] = discrete["infomec"]
        flags["infomec_codes.infoe_near_zero"] = bool(discrete["infomec"]["infoe_near_zero"])
    return flatten_scores(result), flags


def protocol_null(z: np.ndarray, codes: np.ndarray | None, y: np.ndarray, protocol: ZooProtocol) -> NullResult:
    """The protocol's scores with the latent rows permuted against ``y``, ``null_repeats`` times
    (seed: the protocol's + 1)."""
    return shuffled_null(
        lambda order: protocol_scores(z[order], None if codes is None else codes[order], y, protocol)[0],
        len(y), protocol.null_repeats, protocol.seed + 1,
    )


def protocol_ceiling(y: np.ndarray, protocol: ZooProtocol) -> Scores:
    """The protocol's scores of perfect latents (one per factor, its value) on factors ``y``."""
    return protocol_scores(perfect_latents(y), None, y, protocol)[0]


def card_baselines(z: np.ndarray, codes: np.ndarray | None, y: np.ndarray, seed: int, repeats: int = CARD_NULL_REPEATS) -> dict:
    """The ``baselines`` entry of a card's metrics: for :data:`CARD_METRICS`, computed on the
    card's own latents ``z`` (codes) and factor samples ``y`` with its seed, the null's mean and
    sd and the ceiling, by flat score name (``infomec.infom``, ``mig``, ...)."""
    protocol = ZooProtocol(samples=len(y), seed=seed, metrics=CARD_METRICS, null_repeats=repeats)
    null = protocol_null(z, codes, y, protocol)
    return {
        "metrics": list(CARD_METRICS),
        "null": f"shuffled rows, {repeats} permutations",
        "null_mean": null.mean,
        "null_sd": null.sd,
        "ceiling": protocol_ceiling(y, protocol),
    }


__all__ = ["CARD_METRICS", "card_baselines", "protocol_ceiling", "protocol_null", "protocol_scores"]
