"""Which latent dims the app names after a generative factor, and which it calls collapsed.

A dim d is named after its best factor k* = argmax_k NMI[k, d] (InfoMEC's normalised mutual
information, Hsu et al. 2023) when NMI[k*, d] >= ``DIM_NAME_MIN_NMI``, InfoMEC counts it active,
and, for a model with a posterior, it is not collapsed: its mean posterior sd stays below
``COLLAPSED_POSTERIOR_SD`` (a dim whose posterior is the N(0, 1) prior carries nothing)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DIM_NAME_MIN_NMI = 0.2
COLLAPSED_POSTERIOR_SD = 0.8


def collapsed_dims(posterior_scale: Sequence[float], limit: float = COLLAPSED_POSTERIOR_SD) -> list[bool]:
    """Per dim, whether its mean posterior sd is at least ``limit`` (collapsed to the prior)."""
    return [float(sd) >= limit for sd in posterior_scale]


def factor_dim_names(
    nmi: np.ndarray,
    factor_names: Sequence[str],
    active: Sequence[bool] | None = None,
    posterior_scale: Sequence[float] | None = None,
    min_nmi: float = DIM_NAME_MIN_NMI,
    collapsed_sd: float = COLLAPSED_POSTERIOR_SD,
) -> list[tuple[str, float] | None]:
    """Per dim of ``nmi`` (K factors x D dims): (its best factor, that NMI) when named by the rule
    above, else None. ``active`` (D) defaults to every dim, ``posterior_scale`` (D) to none collapsed."""
    nmi = np.asarray(nmi, dtype=np.float64)
    if nmi.ndim != 2 or not nmi.size:
        raise ValueError(f"nmi must be a non-empty factors x dims matrix, got shape {nmi.shape}")
    dims = nmi.shape[1]
    active = list(active) if active is not None else [True] * dims
    collapsed = collapsed_dims(posterior_scale, collapsed_sd) if posterior_scale is not None else [False] * dims
    names: list[tuple[str, float] | None] = []
    for d in range(dims):
        best = int(np.argmax(nmi[:, d]))
        value = float(nmi[best, d])
        named = value >= min_nmi and bool(active[d]) and not collapsed[d]
        names.append((factor_names[best], value) if named else None)
    return names
