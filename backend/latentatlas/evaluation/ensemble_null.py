"""The untrained null of an ensemble's hotspots (``analysis.json``'s ``untrained_null``).

One untrained encoder per analysed member: the member's family and config (its beta), weights
as initialised with ``torch.manual_seed(UNTRAINED_SEED + i)`` (i: the member's position), never
trained. Their posteriors over the same probe set go through the same analysis as the trained
ensemble (fragments, then OPTICS hotspots with the same distance and min_samples), twice: as
initialised, and with every channel's signal-to-noise matched to the trained ensemble's median
active channel (:func:`latentatlas.fragments.null_hotspots.match_signal_to_noise`). A trained
hotspot beats a null when its cohesion exceeds the null's 95th percentile of cross-member
channel-pair NMI (:mod:`latentatlas.fragments.null_hotspots`); it *beats the untrained null*
when it beats both.
"""

from __future__ import annotations

import time
from typing import Literal, cast

import numpy as np
import torch

from latentatlas.data.registry import load_dataset
from latentatlas.families import build_model
from latentatlas.families.base import GaussianPosterior
from latentatlas.fragments import ACTIVE_THRESHOLD_BITS, compute_fragments, compute_hotspots
from latentatlas.fragments.null_hotspots import (
    NULL_PERCENTILE,
    cross_member_percentile,
    hotspot_cohesion,
    match_signal_to_noise,
    signal_to_noise,
)
from latentatlas.store.ensembles import EnsembleConfig

UNTRAINED_SEED = 1_000_000
BATCH = 250

RULE = (
    f"a hotspot beats a null when its cohesion (mean NMI over its channel pairs from different members) exceeds the "
    f"{NULL_PERCENTILE:g}th percentile of the NMI of the null ensemble's channel pairs from different members; "
    "it beats the untrained null when it beats both nulls (as initialised, and signal-to-noise matched)"
)


@torch.inference_mode()
def untrained_posteriors(
    config: EnsembleConfig, members: list[dict], indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances (members * latent_dim, probe points) float64 of one
    untrained encoder per member (seeded ``UNTRAINED_SEED + i``), channels stacked as the analysis'."""
    dataset = load_dataset(config.dataset)
    mus, logvars = [], []
    for position, entry in enumerate(members):
        torch.manual_seed(UNTRAINED_SEED + position)
        model = cast(GaussianPosterior, build_model(config.member_model(float(entry["beta"]))).eval())
        parts = [model.posterior(dataset.images(indices[s : s + BATCH])) for s in range(0, len(indices), BATCH)]
        mus.append(torch.cat([mu for mu, _ in parts]).double().numpy().T)
        logvars.append(torch.cat([logvar for _, logvar in parts]).double().numpy().T)
    return np.concatenate(mus), np.concatenate(logvars)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _null_summary(
    mu: np.ndarray,
    logvar: np.ndarray,
    member_of: np.ndarray,
    distance: Literal["nmi", "vi"],
    min_samples: int,
    description: str,
) -> dict:
    """The null ensemble's analysis, summarised: its channels' information, the percentile its
    hotspots must beat, and its own OPTICS hotspots."""
    fragments = compute_fragments(mu, logvar)
    info = np.asarray(fragments["info_bits"], dtype=np.float64)
    nmi = np.array(fragments["nmi"], dtype=np.float64)
    matrix = nmi if distance == "nmi" else np.array(fragments["vi"], dtype=np.float64)
    found = compute_hotspots(
        info,
        nmi=matrix if distance == "nmi" else None,
        vi=matrix if distance == "vi" else None,
        min_samples=min_samples,
    )
    return {
        "description": description,
        "active_channels": int((info >= ACTIVE_THRESHOLD_BITS).sum()),
        "info_bits_median": float(np.median(info)),
        "info_bits_p95": float(np.percentile(info, NULL_PERCENTILE)),
        "cross_member_nmi_p95": _finite(cross_member_percentile(nmi, member_of)),
        "hotspots": [
            {
                "channels": int(h.members.size),
                "members": int(np.unique(member_of[h.members]).size),
                "mean_info_bits": h.mean_info_bits,
                "cohesion": _finite(hotspot_cohesion(nmi, h.members, member_of)),
            }
            for h in found.hotspots
        ],
    }


def untrained_null(
    config: EnsembleConfig,
    members: list[dict],
    indices: np.ndarray,
    trained: tuple[np.ndarray, np.ndarray, np.ndarray],
    distance: Literal["nmi", "vi"],
    min_samples: int,
) -> dict:
    """``analysis.json``'s ``untrained_null`` for the analysed ``members`` on the probe
    ``indices``; ``trained``: the trained ensemble's stacked (mu, logvar, info_bits), which set
    the signal-to-noise the matched null is scaled to."""
    started = time.perf_counter()
    latent_dim = int(config.latent_dim)
    member_of = np.arange(len(members) * latent_dim) // latent_dim
    mu, logvar = untrained_posteriors(config, members, indices)
    trained_mu, trained_logvar, trained_info = trained
    active = trained_info >= ACTIVE_THRESHOLD_BITS
    nulls = {
        "as_initialised": _null_summary(
            mu, logvar, member_of, distance, min_samples, "untrained encoders' posteriors as they come"
        )
    }
    if active.any():
        target = float(np.median(signal_to_noise(trained_mu[active], trained_logvar[active])))
        nulls["signal_matched"] = _null_summary(
            match_signal_to_noise(mu, logvar, target),
            logvar,
            member_of,
            distance,
            min_samples,
            f"untrained encoders' posterior means rescaled per channel to signal-to-noise {target:.3g} "
            "(sd of the means over the mean posterior sd: the trained ensemble's median active channel)",
        )
        nulls["signal_matched"]["signal_to_noise"] = target
    return {
        "encoders": "one per member: its family and config, randomly initialised "
        f"(torch.manual_seed({UNTRAINED_SEED} + i), i the member's position), never trained; "
        "the same probe set and analysis",
        "rule": RULE,
        "percentile": NULL_PERCENTILE,
        "nulls": nulls,
        "seconds": round(time.perf_counter() - started, 2),
    }


def hotspot_verdicts(nmi: np.ndarray, clusters: list[dict], latent_dim: int, null: dict) -> None:
    """Add each cluster's ``cohesion``, ``beats`` (per null) and ``beats_untrained_null`` (all of them)."""
    member_of = np.arange(nmi.shape[0]) // latent_dim
    for cluster in clusters:
        cohesion = _finite(hotspot_cohesion(nmi, cluster["channels"], member_of))
        beats = {
            name: cohesion is not None
            and entry["cross_member_nmi_p95"] is not None
            and cohesion > entry["cross_member_nmi_p95"]
            for name, entry in null["nulls"].items()
        }
        cluster["cohesion"] = cohesion
        cluster["beats"] = beats
        cluster["beats_untrained_null"] = all(beats.values())
