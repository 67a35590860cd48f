"""What a score means on its own data: the shuffled-rows null and the perfect-latents ceiling.

- **Null**: the same latents with their rows permuted against the factors, so every
  latent-factor dependence is destroyed while each latent's marginal (and the estimator's
  biases on it) stays. A score near its null mean says nothing about disentanglement:
  pure-noise latents score InfoM ~0.6 and modularity ~0.7 on dSprites.
- **Ceiling**: the score of perfect latents, one latent per factor equal to the factor's
  value, on the same factor samples. Discretisation and the classifiers cap several
  metrics below 1 (MIG with 20 bins on dSprites' 32-value positions, SAP).

The interventional scores (FactorVAE, BetaVAE) render fresh images with chosen factors held
fixed, so they have no rows to shuffle. Their null is the same idea: every image's latent is
a row drawn at random from the model's own latents (:func:`marginal_draws`), independent of
the factors it was rendered from; their ceiling is perfect latents. Both run on
:class:`FactorRows`, a dataset whose "images" are the factor rows themselves, so neither
renders nor encodes an image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Scores = dict[str, float]
"""Flat scalar scores by name, e.g. ``{"mig": 0.1, "infomec.infom": 0.4}``."""


@dataclass(frozen=True)
class NullResult:
    """Per-score mean and sd (ddof 1; 0 with one repeat) over ``repeats`` permutations, and the runs."""

    mean: Scores
    sd: Scores
    runs: list[Scores]


def flatten_scores(result: dict[str, Any], prefix: str = "") -> Scores:
    """The float scores of a (nested) metrics result, dotted names (``infomec.infom``);
    flags (bools), matrices and other non-floats are left out."""
    out: Scores = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out |= flatten_scores(value, f"{prefix}{key}.")
        elif isinstance(value, float | np.floating):
            out[f"{prefix}{key}"] = float(value)
    return out


def shuffled_rows(n_rows: int, repeats: int, seed: int) -> Iterable[np.ndarray]:
    """``repeats`` row permutations from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        yield rng.permutation(n_rows)


def shuffled_null(score: Callable[[np.ndarray], Scores], n_rows: int, repeats: int = 5, seed: int = 0) -> NullResult:
    """The null distribution of ``score(permutation)``: the caller scores its latents taken in
    the permuted row order against the factors in the original order."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    return null_of_runs([score(order) for order in shuffled_rows(n_rows, repeats, seed)])


def null_of_runs(runs: list[Scores]) -> NullResult:
    """Mean and sd (ddof 1; 0 for one run) per score over null runs that all have the same names."""
    if not runs:
        raise ValueError("a null needs at least one run")
    names = list(runs[0])
    values = {name: np.array([run[name] for run in runs]) for name in names}
    return NullResult(
        mean={name: float(v.mean()) for name, v in values.items()},
        sd={name: float(v.std(ddof=1)) if v.size > 1 else 0.0 for name, v in values.items()},
        runs=runs,
    )


def perfect_latents(y: np.ndarray) -> np.ndarray:
    """Perfect latents of factors ``y`` (N, K): latent k is factor k's value index, as float."""
    return np.asarray(y, dtype=np.float64).copy()


def perfect_codes(y: np.ndarray) -> np.ndarray:
    """Perfect code indices of factors ``y`` (N, K): code k is factor k's value index (the
    discrete estimators' ceiling, e.g. InfoMEC's plug-in one, whose finite-sample MI bias
    between independent factors keeps it below 1)."""
    return np.asarray(y, dtype=np.int64).copy()


class _Sampler(Protocol):
    @property
    def factor_sizes(self) -> tuple[int, ...]: ...

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class FactorRows:
    """A ground-truth dataset for the interventional scores whose rendering is the identity:
    ``render(factors)`` returns the factor rows (float), which a representation of factors
    (:func:`perfect_latents`, :func:`marginal_draws`) maps to latents. Factors are sampled as
    ``source`` samples them, so the interventions are the ones the model was scored on."""

    source: _Sampler

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return tuple(self.source.factor_sizes)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.source.sample_factors(n, rng)

    def render(self, factors: np.ndarray) -> np.ndarray:
        return np.asarray(factors, dtype=np.float64)


def marginal_draws(latents: np.ndarray, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A representation of :class:`FactorRows` that ignores the factors: each row gets a row of
    ``latents`` (N, D) drawn uniformly with replacement (``np.random.default_rng(seed)``), so
    each latent keeps its marginal and loses every dependence on the factors."""
    pool = np.asarray(latents, dtype=np.float64)
    rng = np.random.default_rng(seed)
    return lambda rows: pool[rng.integers(len(pool), size=len(rows))]
