"""A score beside what it must beat and what it can reach, under one scoring protocol: the
shuffled-rows null of a model's own latents and the ceiling of perfect latents on the same factor
samples (the array math is :mod:`latentatlas.metrics.baselines`). Each null and ceiling is the one
of the estimator and latents behind its score: a code model's ``infomec_codes`` (InfoMEC's discrete
plug-in estimator on the code indices) gets the null of its codes permuted and the ceiling of perfect
codes, and a card whose ``infomec`` itself was scored on the codes (``infomec_latents: "codes"``) gets
those under ``infomec.*`` (:func:`matched_to_card`). The zoo scores every member this way; ``latentatlas evaluate`` adds the same to a model's card for the app's bars: beside the
row-based scores and the interventional FactorVAE and BetaVAE scores (whose null draws each latent
row from the model's own latents independently of the factors), and beside exact DCI when asked
(``dci=True``: each of its fits takes 0.5-8 minutes on a 2-core CPU, and the null needs three
more).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from latentatlas.metrics import compute_metrics
from latentatlas.metrics.baselines import (
    FactorRows,
    NullResult,
    Scores,
    flatten_scores,
    marginal_draws,
    null_of_runs,
    perfect_codes,
    perfect_latents,
    shuffled_null,
)
from latentatlas.metrics.catalogue import metrics_from, score_value
from latentatlas.metrics.factorvae import GroundTruthDataset, Representation
from latentatlas.store.zoo import ZooProtocol

CARD_METRICS = tuple(entry.name for entry in metrics_from("latents") if entry.baselines == "always")
"""The card's row-based scores that always get a null and a ceiling (the catalogue's ``baselines``);
those it has ``on request`` (exact DCI) with ``dci=True``; the interventional ones get theirs from
:func:`interventional_baselines`."""
ON_REQUEST = tuple(entry.name for entry in metrics_from("latents") if entry.baselines == "on request")
CARD_NULL_REPEATS = 3


@dataclass(frozen=True)
class Interventions:
    """How the card's FactorVAE and BetaVAE scores ran: votes of ``batch_size`` samples, and
    FactorVAE's global variances from ``variance_samples`` samples."""

    train: int
    eval: int
    batch_size: int
    variance_samples: int


def protocol_scores(
    z: np.ndarray,
    codes: np.ndarray | None,
    y: np.ndarray,
    protocol: ZooProtocol,
    n_jobs: int = 1,
) -> tuple[Scores, dict[str, bool]]:
    """The protocol's scores of latents ``z`` (and, for the catalogue's ``codes`` metrics whose
    ``variant_of`` the protocol has, of ``codes``) against factors ``y``, flat, and the flags
    (``infomec.infoe_near_zero``, ``infomec_codes.infoe_near_zero``); ``n_jobs`` processes fit
    exact DCI where the protocol has it."""
    result = compute_metrics(z, y, metrics=protocol.metrics, seed=protocol.seed, n_jobs=n_jobs)
    if codes is not None:
        on_codes = [entry.name for entry in metrics_from("codes") if entry.variant_of in protocol.metrics]
        if on_codes:
            result |= compute_metrics(codes, y, metrics=on_codes, seed=protocol.seed, n_jobs=1)
    flags = {
        f"{entry.name}.{flag}": bool(result[entry.name][flag])
        for entry in (*metrics_from("latents"), *metrics_from("codes"))
        if entry.name in result
        for flag in entry.flags
    }
    return flatten_scores(result), flags


def protocol_null(
    z: np.ndarray, codes: np.ndarray | None, y: np.ndarray, protocol: ZooProtocol, n_jobs: int = 1
) -> NullResult:
    """The protocol's scores with the latent rows permuted against ``y``, ``null_repeats`` times
    (seed: the protocol's + 1)."""
    return shuffled_null(
        lambda order: protocol_scores(z[order], None if codes is None else codes[order], y, protocol, n_jobs)[0],
        len(y),
        protocol.null_repeats,
        protocol.seed + 1,
    )


def protocol_ceiling(y: np.ndarray, protocol: ZooProtocol, n_jobs: int = 1, with_codes: bool = True) -> Scores:
    """The protocol's scores of perfect latents (one per factor, its value) on factors ``y``, and
    with ``with_codes`` of perfect codes (the same, as code indices) for the catalogue's ``codes``
    metrics (InfoMEC's plug-in estimator: about 0.91-0.97 InfoM, below 1 from its finite-sample bias)."""
    return protocol_scores(perfect_latents(y), perfect_codes(y) if with_codes else None, y, protocol, n_jobs)[0]


def matched_to_card(scores: Scores, infomec_latents: str) -> Scores:
    """``scores`` (a null's or a ceiling's) keyed as a card's values are: where the card scored a
    metric on the codes (``infomec_latents == "codes"``: cards evaluated before 2026-12-02 scored a
    code model's InfoMEC with the discrete estimator on its codes), the codes variant's scores
    (``infomec_codes.infom``) also stand under the metric's names (``infomec.infom``), replacing
    those of the continuous estimator on the latent values."""
    if infomec_latents != "codes":
        return scores
    renamed = {
        f"{entry.variant_of}.{key.removeprefix(entry.name + '.')}": value
        for entry in metrics_from("codes")
        if entry.variant_of
        for key, value in scores.items()
        if key.startswith(entry.name + ".")
    }
    return scores | renamed


def interventional_scores(
    represent: Representation, dataset: GroundTruthDataset, seed: int, votes: Interventions
) -> Scores:
    """The scores with a baseline (the eval accuracies) of the catalogue's interventional metrics
    (FactorVAE reference and corrected argmin, BetaVAE) of ``represent`` on ``dataset``, as the
    card computes them, by flat name (``factor_vae.eval_accuracy``, ...)."""
    out: Scores = {}
    for entry in metrics_from("interventions"):
        values, _ = entry.compute(represent, dataset, seed, votes)
        for score in entry.scores:
            value = score_value(values, score.key)
            if score.baseline and value is not None:
                out[score.key] = value
    return out


def interventional_baselines(
    z: np.ndarray,
    dataset: GroundTruthDataset,
    seed: int,
    votes: Interventions,
    repeats: int = CARD_NULL_REPEATS,
) -> tuple[NullResult, Scores]:
    """The null (each latent row drawn from ``z`` independently of the factors, ``repeats``
    draws seeded ``seed + 1 + r``) and the ceiling (perfect latents) of the interventional
    scores, on the same interventions as the card's (``seed``); no image is rendered."""
    rows = FactorRows(dataset)
    null = null_of_runs(
        [interventional_scores(marginal_draws(z, seed + 1 + r), rows, seed, votes) for r in range(repeats)]
    )
    return null, interventional_scores(perfect_latents, rows, seed, votes)


def card_baselines(
    z: np.ndarray,
    codes: np.ndarray | None,
    y: np.ndarray,
    seed: int,
    repeats: int = CARD_NULL_REPEATS,
    *,
    infomec_latents: Literal["codes", "values"] = "values",
    interventions: tuple[GroundTruthDataset, Interventions] | None = None,
    dci: bool = False,
    n_jobs: int = 1,
    leave_out: tuple[str, ...] = (),
) -> dict:
    """The ``baselines`` entry of a card's metrics: for :data:`CARD_METRICS`, computed on the
    card's own latents ``z`` (codes) and factor samples ``y`` with its seed, the null's mean and
    sd and the ceiling, by flat score name (``infomec.infom``, ``mig``, ...); with ``dci`` also
    exact DCI's (``n_jobs`` processes fit it); with ``interventions`` (the dataset and the card's
    votes) also FactorVAE's and BetaVAE's (:func:`interventional_baselines`); none for the metrics
    named in ``leave_out``. ``infomec_latents`` is the card's: with ``"codes"`` the ``infomec.*``
    null and ceiling are the codes estimator's (:func:`matched_to_card`)."""
    names = [name for name in (*CARD_METRICS, *(ON_REQUEST if dci else [])) if name not in leave_out]
    protocol = ZooProtocol(samples=len(y), seed=seed, metrics=tuple(names), null_repeats=repeats)
    null = protocol_null(z, codes, y, protocol, n_jobs)
    ceiling = protocol_ceiling(y, protocol, n_jobs, with_codes=codes is not None)
    null_mean, null_sd = matched_to_card(null.mean, infomec_latents), matched_to_card(null.sd, infomec_latents)
    ceiling = matched_to_card(ceiling, infomec_latents)
    if interventions is not None:
        dataset, votes = interventions
        voted_null, voted_ceiling = interventional_baselines(z, dataset, seed, votes, repeats)
        names += [entry.name for entry in metrics_from("interventions") if entry.name not in leave_out]
        null_mean |= voted_null.mean
        null_sd |= voted_null.sd
        ceiling |= voted_ceiling
    return {
        "metrics": names,
        "null": f"shuffled rows, {repeats} permutations (FactorVAE / BetaVAE: each latent row drawn from the model's own, independently of the factors, {repeats} times)",
        "infomec_latents": infomec_latents,
        "null_mean": null_mean,
        "null_sd": null_sd,
        "ceiling": ceiling,
    }


__all__ = [
    "CARD_METRICS",
    "ON_REQUEST",
    "Interventions",
    "card_baselines",
    "interventional_baselines",
    "interventional_scores",
    "matched_to_card",
    "protocol_ceiling",
    "protocol_null",
    "protocol_scores",
]


def protocol_record(
    z: np.ndarray, codes: np.ndarray | None, y: np.ndarray, protocol: ZooProtocol, started: float
) -> dict:
    """Latents scored under ``protocol`` with their own shuffled-rows null: ``scores``, ``flags``,
    ``null`` and ``seconds`` (encode: from ``started`` until now; then scores; then the null)."""
    encoded = time.perf_counter()
    scores, flags = protocol_scores(z, codes, y, protocol)
    scored = time.perf_counter()
    null = protocol_null(z, codes, y, protocol)
    return {
        "scores": scores,
        "flags": flags,
        "null": {"kind": f"shuffled rows, {protocol.null_repeats} permutations", "mean": null.mean, "sd": null.sd},
        "seconds": {
            "encode": round(encoded - started, 2),
            "scores": round(scored - encoded, 2),
            "null": round(time.perf_counter() - scored, 2),
        },
    }
