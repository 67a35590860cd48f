"""Mutual Information Gap (Chen et al., 2018, "Isolating Sources of
Disentanglement in Variational Autoencoders")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentatlas.metrics._mi import NUM_BINS, DiscreteInfo, histogram_mutual_info


@dataclass(frozen=True)
class MIGResult:
    mig: float
    per_factor: np.ndarray  # (K,) normalised gap of each factor
    mutual_info: np.ndarray  # (D, K) nats


def compute_mig(z: np.ndarray, y: np.ndarray, num_bins: int = NUM_BINS) -> MIGResult:
    """MIG = mean_k (I(z_(1); y_k) - I(z_(2); y_k)) / H(y_k).

    I(z_j; y_k) is the plug-in MI of the ``num_bins``-bin histogram
    discretisation of latent j with factor k, and z_(1), z_(2) the two latents
    with the largest MI for factor k (Chen et al., NeurIPS 2018; the
    disentanglement_lib protocol).  ``z`` (N, D) float, ``y`` (N, K) int.
    """
    return mig_from_info(histogram_mutual_info(z, y, num_bins))


def mig_from_info(info: DiscreteInfo) -> MIGResult:
    """MIG from a precomputed latent x factor MI matrix and factor entropies."""
    top_two = -np.sort(-info.mutual_info, axis=0)[:2]
    per_factor = (top_two[0] - top_two[1]) / info.factor_entropy
    return MIGResult(mig=float(per_factor.mean()), per_factor=per_factor, mutual_info=info.mutual_info)
