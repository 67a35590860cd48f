"""Keeping a card's metrics current without scoring everything again, on the card's own factor
samples (its ``samples`` and ``seed``, re-rendered and re-encoded: the same latents):

- :func:`refresh_card_baselines`: the null and ceiling beside every score already there;
- :func:`add_card_metrics`: metrics the card lacks (e.g. MED and top-k MED on cards scored
  before MED existed), scored with their null and ceiling and merged in; the others stay (an
  ordered model adding MED also gets ``flow.med``: MED on all its latents and against C).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from latentatlas.data.base import FactorDataset
from latentatlas.data.registry import load_dataset
from latentatlas.evaluation.baselines import CARD_METRICS, ON_REQUEST, Interventions, card_baselines
from latentatlas.evaluation.disentanglement import EvaluationError, encode_factor_samples, save_metrics
from latentatlas.metrics import compute_metrics
from latentatlas.metrics.catalogue import metrics_from
from latentatlas.store.folders import LoadedModel

ADDABLE = tuple(entry.name for entry in (*metrics_from("latents"), *metrics_from("codes")))
"""What :func:`add_card_metrics` can add: the metrics computed from latents and factors alone
(the voted FactorVAE / BetaVAE scores need the card's dataset interventions: run ``evaluate``)."""


def _card_samples(loaded: LoadedModel) -> tuple[dict, FactorDataset]:
    metrics = loaded.card.get("metrics")
    if not metrics:
        raise EvaluationError(
            f"{loaded.folder.name}'s card has no metrics to add to (run `latentatlas evaluate` first)"
        )
    dataset = load_dataset(loaded.config.dataset)
    if not isinstance(dataset, FactorDataset):
        raise EvaluationError(f"{loaded.folder.name}: dataset {dataset.name!r} has no generative factors")
    return metrics, dataset


def refresh_card_baselines(loaded: LoadedModel, n_jobs: int = 2, dci: bool = False) -> dict:
    """Add the null and ceiling (:func:`~latentatlas.evaluation.baselines.card_baselines`) to the
    metrics already in a model's card, on the same factor samples (its ``samples`` and ``seed``,
    re-rendered and re-encoded; its votes), each of the estimator behind the card's score (a card
    whose InfoMEC was scored on the codes gets the codes estimator's), with exact DCI's when ``dci``
    (``n_jobs`` processes fit it); written into card.json; returns the ``baselines`` entry."""
    metrics, dataset = _card_samples(loaded)
    factors = dataset.sample_factors(metrics["samples"], np.random.default_rng(metrics["seed"]))
    z, codes = encode_factor_samples(loaded, dataset, factors)
    votes = metrics["votes"]
    interventions = (dataset, Interventions(votes["train"], votes["eval"], votes["batch_size"], metrics["samples"]))
    baselines = card_baselines(
        z,
        codes,
        factors,
        metrics["seed"],
        infomec_latents=metrics.get("infomec_latents", "values"),
        interventions=interventions,
        dci=dci,
        n_jobs=n_jobs,
    )
    baselines = _keep_on_request(metrics.get("baselines") or {}, baselines)
    loaded.card = save_metrics(loaded.folder, {**metrics, "baselines": baselines})
    return baselines


def _keep_on_request(old: dict, new: dict) -> dict:
    """``new`` baselines with the on-request ones (exact DCI's) that ``old`` has and ``new`` was not
    asked for kept: they come from the same latents and samples, and take minutes per fit."""
    kept = [name for name in ON_REQUEST if name in old.get("metrics", []) and name not in new["metrics"]]
    out = {**new, "metrics": [*new["metrics"], *kept]}
    for part in ("null_mean", "null_sd", "ceiling"):
        out[part] = new[part] | {
            key: value for key, value in old.get(part, {}).items() if any(key.startswith(f"{name}.") for name in kept)
        }
    return out


def add_card_metrics(loaded: LoadedModel, names: tuple[str, ...], n_jobs: int = 2) -> dict:
    """Score ``names`` (of :data:`ADDABLE`) on the card's own factor samples and merge them into
    its metrics: their values and matrices, and, for those that always get one, their shuffled-rows
    null and perfect-latents ceiling (:func:`~latentatlas.evaluation.baselines.card_baselines`);
    every score already there stays as it is. A codes metric needs a model with codes. The card's
    ``added`` list records what was added when. Written into card.json; returns the metrics entry."""
    unknown = sorted(set(names) - set(ADDABLE))
    if unknown:
        raise EvaluationError(f"cannot add {', '.join(unknown)}: a card can be given {', '.join(ADDABLE)}")
    metrics, dataset = _card_samples(loaded)
    started = time.perf_counter()
    factors = dataset.sample_factors(metrics["samples"], np.random.default_rng(metrics["seed"]))
    z, codes = encode_factor_samples(loaded, dataset, factors)
    on_codes = [name for name in names if name in {entry.name for entry in metrics_from("codes")}]
    if on_codes and codes is None:
        raise EvaluationError(f"{loaded.folder.name} has no codes: {', '.join(on_codes)} score code indices")
    train_rows = metrics["train_rows"]
    seed = metrics["seed"]
    scored = compute_metrics(
        z, factors, train_rows, [n for n in names if n not in on_codes], seed=seed, n_jobs=n_jobs, with_matrices=True
    )
    if on_codes and codes is not None:
        scored |= compute_metrics(codes, factors, train_rows, on_codes, seed=seed, n_jobs=n_jobs, with_matrices=True)
    matrices = scored.pop("matrices", {})
    with_baselines = [name for name in names if name in CARD_METRICS]
    old = metrics.get("baselines")
    merged = {**metrics, "values": metrics["values"] | scored, "matrices": metrics.get("matrices", {}) | matrices}
    if with_baselines and old:
        new = card_baselines(
            z,
            codes,
            factors,
            seed,
            infomec_latents=metrics.get("infomec_latents", "values"),
            n_jobs=n_jobs,
            leave_out=tuple(name for name in CARD_METRICS if name not in with_baselines),
        )
        merged["baselines"] = {
            **old,
            "metrics": list(dict.fromkeys([*old["metrics"], *new["metrics"]])),
            **{part: old[part] | new[part] for part in ("null_mean", "null_sd", "ceiling")},
        }
    seconds = round(time.perf_counter() - started, 2)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    merged["added"] = [*metrics.get("added", []), {"metrics": list(names), "seconds": seconds, "created": created}]
    merged["left_out"] = [name for name in metrics.get("left_out", []) if name not in names]
    loaded.card = save_metrics(loaded.folder, merged)
    if "med" in names and loaded.model.capabilities.ordered:  # and on every latent, against C
        from latentatlas.evaluation.flow_med import refresh_flow_med

        refresh_flow_med(loaded, metrics["samples"], seed, n_jobs)
    return merged
