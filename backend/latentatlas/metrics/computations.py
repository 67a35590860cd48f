"""How each catalogue entry (:mod:`latentatlas.metrics.catalogue`) computes its scores: one function
per metric over a train/test :class:`Split` (``latents`` and ``codes`` metrics) or over a model's
representation of rendered factors (``interventions`` metrics), each returning its result entries and
the matrices behind them."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol

import numpy as np

from latentatlas.metrics._mi import DiscreteInfo, histogram_mutual_info
from latentatlas.metrics.betavae import compute_beta_vae
from latentatlas.metrics.dci import DCIResult, compute_dci, compute_dci_fast
from latentatlas.metrics.factorvae import (
    FactorVAEResult,
    GroundTruthDataset,
    RenderedT,
    Representation,
    compute_factor_vae,
    compute_factor_vae_corrected,
)
from latentatlas.metrics.infomec import compute_infomec
from latentatlas.metrics.med import REPORTED_TOPK, compute_med
from latentatlas.metrics.mig import mig_from_info
from latentatlas.metrics.modularity import compute_explicitness, modularity_from_mutual_info
from latentatlas.metrics.sap import compute_sap

Source = Literal["latents", "codes", "interventions"]
Output = tuple[dict[str, Any], dict[str, Any]]
"""What a compute function returns: the result entries (``{"dci": {...}}``) and the matrices
behind them (``{"dci_importance": [[...]]}``, nested lists)."""


@dataclass
class Split:
    """What a ``latents`` / ``codes`` compute function gets: rows [:train_rows] of (z, y) train,
    the rest test, and the options of ``compute_metrics``. The 20-bin plug-in mutual information
    of the train rows (MIG, modularity) is computed once, when first asked for."""

    z_train: np.ndarray
    y_train: np.ndarray
    z_test: np.ndarray
    y_test: np.ndarray
    seed: int = 0
    n_jobs: int = 2
    discrete_latents: bool = False
    on_progress: Callable[[float], None] | None = None
    med_topk: tuple[int, ...] | None = None  # None: the reported ones (med.REPORTED_TOPK)
    should_stop: Callable[[], bool] | None = None  # exact DCI polls it between boosting stages

    @cached_property
    def mutual_info(self) -> DiscreteInfo:
        return histogram_mutual_info(self.z_train, self.y_train)


class Votes(Protocol):
    """How the interventional scores run: votes of ``batch_size`` samples, and FactorVAE's
    global latent variances from ``variance_samples`` samples."""

    @property
    def train(self) -> int: ...
    @property
    def eval(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def variance_samples(self) -> int: ...


def mig(split: Split) -> Output:
    mig = mig_from_info(split.mutual_info)
    return {"mig": mig.mig}, {"mig_mutual_info": mig.mutual_info.tolist()}


def _dci_dict(result: DCIResult) -> dict[str, float]:
    keys = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
    return {key: getattr(result, key) for key in keys}


def dci(split: Split) -> Output:
    dci = compute_dci(
        split.z_train,
        split.y_train,
        split.z_test,
        split.y_test,
        n_jobs=split.n_jobs,
        seed=split.seed,
        on_progress=split.on_progress,
        should_stop=split.should_stop,
    )
    return {"dci": _dci_dict(dci)}, {"dci_importance": dci.importance_matrix.tolist()}


def dci_fast(split: Split) -> Output:
    dci = compute_dci_fast(split.z_train, split.y_train, split.z_test, split.y_test, seed=split.seed)
    return {"dci_fast": _dci_dict(dci)}, {"dci_importance": dci.importance_matrix.tolist()}


def sap(split: Split) -> Output:
    return {"sap": compute_sap(split.z_train, split.y_train, split.z_test, split.y_test).sap}, {}


def sap_continuous(split: Split) -> Output:
    sap = compute_sap(split.z_train, split.y_train, split.z_test, split.y_test, continuous_factors=True)
    return {"sap_continuous": sap.sap}, {}


def modularity(split: Split) -> Output:
    return {"modularity": modularity_from_mutual_info(split.mutual_info.mutual_info).modularity}, {}


def explicitness(split: Split) -> Output:
    explicitness = compute_explicitness(split.z_train, split.y_train, split.z_test, split.y_test)
    return {"explicitness_train": explicitness.train, "explicitness_test": explicitness.test}, {}


def _infomec_of(split: Split, discrete: bool) -> dict[str, Any]:
    info_mec = compute_infomec(split.z_train, split.y_train, discrete_latents=discrete, seed=split.seed)
    values = {
        "infom": info_mec.infom,
        "infoc": info_mec.infoc,
        "infoe": info_mec.infoe,
        "infoe_near_zero": info_mec.infoe_near_zero,
    }
    return {"values": values, "nmi": info_mec.nmi.tolist(), "active": info_mec.active_latents.tolist()}


def infomec(split: Split) -> Output:
    out = _infomec_of(split, split.discrete_latents)
    return {"infomec": out["values"]}, {"infomec_nmi": out["nmi"], "infomec_active": out["active"]}


def infomec_codes(split: Split) -> Output:
    return {"infomec_codes": _infomec_of(split, discrete=True)["values"]}, {}


def med(split: Split) -> Output:
    topk = REPORTED_TOPK if split.med_topk is None else split.med_topk
    med = compute_med(split.z_train, split.y_train, split.z_test, split.y_test, topk=topk, n_jobs=split.n_jobs)
    return {"med": med.as_dict()}, {}


def _factor_vae_output(name: str, result: FactorVAEResult) -> Output:
    value = {
        "train_accuracy": result.train_accuracy,
        "eval_accuracy": result.eval_accuracy,
        "num_active_dims": result.num_active_dims,
    }
    return {name: value}, {"factor_vae_votes": result.train_votes.tolist()}


def _votes_kwargs(seed: int, votes: Votes) -> dict[str, Any]:
    return {"seed": seed, "batch_size": votes.batch_size, "num_train": votes.train, "num_eval": votes.eval}


def _factor_vae_metric(name: str, compute: Callable[..., FactorVAEResult]) -> Callable[..., Output]:
    """The catalogue's computation of metric ``name``: ``compute`` (a FactorVAE variant) with the votes' settings."""

    def computation(
        represent: Representation[RenderedT], dataset: GroundTruthDataset[RenderedT], seed: int, votes: Votes
    ) -> Output:
        result = compute(represent, dataset, num_variance_estimate=votes.variance_samples, **_votes_kwargs(seed, votes))
        return _factor_vae_output(name, result)

    return computation


factor_vae = _factor_vae_metric("factor_vae", compute_factor_vae)
factor_vae_corrected = _factor_vae_metric("factor_vae_corrected", compute_factor_vae_corrected)


def beta_vae(
    represent: Representation[RenderedT], dataset: GroundTruthDataset[RenderedT], seed: int, votes: Votes
) -> Output:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # The reference's LogisticRegression() stops at lbfgs' default 100 iterations.
        warnings.simplefilter("ignore", ConvergenceWarning)
        beta = compute_beta_vae(represent, dataset, **_votes_kwargs(seed, votes))
    return {"beta_vae": {"train_accuracy": beta.train_accuracy, "eval_accuracy": beta.eval_accuracy}}, {}


def factor_vae_images(votes: Votes) -> int:
    return votes.variance_samples + (votes.train + votes.eval) * votes.batch_size


def beta_vae_images(votes: Votes) -> int:
    return 2 * (votes.train + votes.eval) * votes.batch_size


# --- the catalogue (compute order; the app orders by GROUPS) ----------------------------------------
