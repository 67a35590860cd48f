"""FactorVAE score (Kim & Mnih, 2018, "Disentangling by Factorising").

Also home of the generative-process interface that the FactorVAE and BetaVAE
scores share: they need images rendered with chosen factors held fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypedDict, TypeVar, Unpack

import numpy as np

if TYPE_CHECKING:  # torch is imported only when a score actually runs
    import torch

# Images rendered and represented per call, so memory stays bounded.
IMAGES_PER_CALL = 2048


# What a dataset renders and a representation reads: images (a torch.Tensor), or factor rows.
RenderedT = TypeVar("RenderedT")
_RenderedT_co = TypeVar("_RenderedT_co", covariant=True)


class GroundTruthDataset(Protocol[_RenderedT_co]):
    """What the interventional scores need from a dataset."""

    @property
    def factor_sizes(self) -> tuple[int, ...]: ...

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Factor indices (n, K)."""

    def render(self, factors: np.ndarray) -> _RenderedT_co:
        """Images (n, C, H, W) in [0, 1] for factor indices (n, K) (``FactorRows``: the rows themselves)."""


Representation = Callable[[RenderedT], "np.ndarray | torch.Tensor"]


def represent_factors(
    represent: Representation[RenderedT], dataset: GroundTruthDataset[RenderedT], factors: np.ndarray
) -> np.ndarray:
    """Latents (n, D) float64 of the images rendered from ``factors`` (n, K)."""
    import torch

    chunks = []
    with torch.no_grad():
        for start in range(0, factors.shape[0], IMAGES_PER_CALL):
            z = represent(dataset.render(factors[start : start + IMAGES_PER_CALL]))
            if isinstance(z, torch.Tensor):
                z = z.detach().cpu().numpy()
            chunks.append(np.asarray(z, dtype=np.float64).reshape(z.shape[0], -1))
    return np.concatenate(chunks, axis=0)


@dataclass(frozen=True)
class FactorVAEResult:
    train_accuracy: float
    eval_accuracy: float
    num_active_dims: int
    train_votes: np.ndarray  # (K, D) votes[factor, latent]


class FactorVAESettings(TypedDict, total=False):
    """The keyword settings of :func:`compute_factor_vae` and :func:`compute_factor_vae_corrected`
    (defaults: seed 0, batch_size 64, num_train 10000, num_eval 5000, num_variance_estimate 10000,
    prune_threshold 0.05)."""

    seed: int
    batch_size: int
    num_train: int
    num_eval: int
    num_variance_estimate: int
    prune_threshold: float


def compute_factor_vae(
    represent: Representation[RenderedT],
    dataset: GroundTruthDataset[RenderedT],
    **settings: Unpack[FactorVAESettings],
) -> FactorVAEResult:
    """FactorVAE score as disentanglement_lib computes it.

    Latent j is active when its global sd (``num_variance_estimate`` samples)
    is >= ``prune_threshold``.  A vote fixes one random factor k over a batch
    of ``batch_size`` samples and takes argmin over active latents of
    (batch variance / global variance); a majority-vote latent -> factor
    classifier from ``num_train`` votes is scored on ``num_eval`` new votes
    (Kim & Mnih, ICML 2018).  Settings and defaults: :class:`FactorVAESettings`.

    Reproduces the reference's bug: the argmin is an index among the *active*
    latents but is recorded as if it indexed *all* latents.  See
    compute_factor_vae_corrected for the fixed variant.
    """
    return _factor_vae(represent, dataset, corrected=False, **settings)


def compute_factor_vae_corrected(
    represent: Representation[RenderedT],
    dataset: GroundTruthDataset[RenderedT],
    **settings: Unpack[FactorVAESettings],
) -> FactorVAEResult:
    """compute_factor_vae with each vote recorded for the latent that actually
    had the smallest normalised variance (the argmin mapped back from the
    active latents to all latents) (Kim & Mnih, ICML 2018)."""
    return _factor_vae(represent, dataset, corrected=True, **settings)


def _factor_vae(
    represent: Representation[RenderedT],
    dataset: GroundTruthDataset[RenderedT],
    *,
    corrected: bool,
    seed: int = 0,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> FactorVAEResult:
    rng = np.random.default_rng(seed)
    global_var = np.var(
        represent_factors(represent, dataset, dataset.sample_factors(num_variance_estimate, rng)),
        axis=0,
        ddof=1,
    )
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        n_latents = global_var.size
        return FactorVAEResult(0.0, 0.0, 0, np.zeros((len(dataset.factor_sizes), n_latents), np.int64))
    vote = _Voter(represent, dataset, batch_size, global_var, active, corrected)
    train_votes = vote(num_train, rng)
    classifier = np.argmax(train_votes, axis=0)
    eval_votes = vote(num_eval, rng)
    return FactorVAEResult(
        train_accuracy=_majority_accuracy(train_votes, classifier),
        eval_accuracy=_majority_accuracy(eval_votes, classifier),
        num_active_dims=int(active.sum()),
        train_votes=train_votes,
    )


def _majority_accuracy(votes: np.ndarray, classifier: np.ndarray) -> float:
    """Share of votes whose latent's majority factor is the vote's factor."""
    return float(votes[classifier, np.arange(votes.shape[1])].sum() / votes.sum())


@dataclass(frozen=True)
class _Voter(Generic[RenderedT]):
    represent: Representation[RenderedT]
    dataset: GroundTruthDataset[RenderedT]
    batch_size: int
    global_var: np.ndarray
    active: np.ndarray
    corrected: bool

    def __call__(self, num_votes: int, rng: np.random.Generator) -> np.ndarray:
        """(K, D) vote counts: votes[fixed factor, recorded latent]."""
        n_factors = len(self.dataset.factor_sizes)
        active_index = np.flatnonzero(self.active)
        votes = np.zeros((n_factors, self.global_var.size), dtype=np.int64)
        per_chunk = max(1, IMAGES_PER_CALL // self.batch_size)
        for start in range(0, num_votes, per_chunk):
            m = min(per_chunk, num_votes - start)
            fixed = rng.integers(n_factors, size=m)
            factors = self.dataset.sample_factors(m * self.batch_size, rng).reshape(m, self.batch_size, n_factors)
            rows = np.arange(m)
            factors[rows, :, fixed] = factors[rows, 0, fixed][:, None]
            z = represent_factors(self.represent, self.dataset, factors.reshape(-1, n_factors))
            local_var = np.var(z.reshape(m, self.batch_size, -1), axis=1, ddof=1)
            argmin = np.argmin(local_var[:, self.active] / self.global_var[self.active], axis=1)
            latent = active_index[argmin] if self.corrected else argmin
            np.add.at(votes, (fixed, latent), 1)
        return votes
