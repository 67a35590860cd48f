"""MED on every latent of an ordered model (EOFlow: its latent is the whole image, 1,024 or 3,072
values sorted by explained entropy), and how MED changes with the number of kept latents C.

The card's metrics score an ordered model's top 2K latents (K factors), as the EOFlow paper's
InfoMEC does; MED (Cao et al. 2022) was made for high-dimensional representations, so the card's
``flow.med`` section scores all of them, on the same factor samples (the card's ``samples`` and
``seed``; its first 2/3 train rows):

- ``all``: MED, top-1 and top-2 MED and the linear informativeness over all D latents;
- ``by_keep``: MED's D and C over the top C latents for C on the flow's curve grid
  (:func:`~latentatlas.metrics.med.med_by_leading_latents`), beside the same curve with the
  factor rows shuffled once against the latents (the null: the plug-in MI's bias alone grows with
  the number of latents, so D and C are read against it).
"""

from __future__ import annotations

import time

import numpy as np

from latentatlas.data.base import FactorDataset, ImageDataset
from latentatlas.data.registry import load_dataset
from latentatlas.evaluation.disentanglement import EncodedSamples, EvaluationError, encode_protocol_samples
from latentatlas.evaluation.ordered_latents import CURVE_POINTS, log_keep_grid
from latentatlas.metrics.med import REPORTED_TOPK, compute_med, med_by_leading_latents
from latentatlas.metrics.report import default_train_rows
from latentatlas.store.folders import CARD_FILE, LoadedModel, write_json

NULL_SEED_OFFSET = 1
"""The shuffled-rows null permutes the factor rows with ``default_rng(seed + 1)``."""


def flow_med_section(
    loaded: LoadedModel,
    samples: int,
    seed: int,
    n_jobs: int = 1,
    encoded: EncodedSamples | None = None,
    dataset: ImageDataset | None = None,
) -> dict:
    """The card's ``flow.med`` section (see the module doc) on ``samples`` factor samples drawn
    with ``seed`` (``encoded``: those samples already encoded, every latent; ``dataset``: the
    model's dataset already open, default opened from its config)."""
    if not loaded.model.capabilities.ordered:
        raise EvaluationError(f"{loaded.folder.name}'s latents are not ordered: MED against C needs an ordered model")
    dataset = dataset if dataset is not None else load_dataset(loaded.config.dataset)
    if not isinstance(dataset, FactorDataset):
        raise EvaluationError(f"{loaded.folder.name}: dataset {dataset.name!r} has no generative factors")
    started = time.perf_counter()
    factors = dataset.sample_factors(samples, np.random.default_rng(seed))
    if encoded is None:
        encoded = encode_protocol_samples(loaded, dataset, samples, seed)
    encoded.require(samples, seed)
    z = encoded.latents
    train_rows = default_train_rows(samples)
    z_train, y_train = z[:train_rows], factors[:train_rows]
    every = compute_med(z_train, y_train, z[train_rows:], factors[train_rows:], topk=REPORTED_TOPK, n_jobs=n_jobs)
    keeps = [keep for keep in log_keep_grid(z.shape[1], CURVE_POINTS) if keep >= 2]
    d_scores, c_scores = med_by_leading_latents(z_train, y_train, keeps)
    shuffled = y_train[np.random.default_rng(seed + NULL_SEED_OFFSET).permutation(train_rows)]
    d_null, c_null = med_by_leading_latents(z_train, shuffled, keeps)
    return {
        "samples": samples,
        "seed": seed,
        "train_rows": train_rows,
        "latents": int(z.shape[1]),
        "all": every.as_dict(),
        "by_keep": {
            "keep": keeps,
            "disentanglement": d_scores.tolist(),
            "completeness": c_scores.tolist(),
            "null_disentanglement": d_null.tolist(),
            "null_completeness": c_null.tolist(),
        },
        "null": "the factor rows shuffled once against the latents (default_rng(seed + 1))",
        "seconds": round(time.perf_counter() - started, 2),
    }


def refresh_flow_med(
    loaded: LoadedModel,
    samples: int,
    seed: int,
    n_jobs: int = 1,
    encoded: EncodedSamples | None = None,
    dataset: ImageDataset | None = None,
) -> dict:
    """Compute :func:`flow_med_section` and write it into the card's ``flow`` section (card.json
    and ``loaded.card``); returns it."""
    section = flow_med_section(loaded, samples, seed, n_jobs, encoded, dataset)
    loaded.card.setdefault("flow", {})["med"] = section
    write_json(loaded.folder / CARD_FILE, loaded.card)
    return section
