"""BetaVAE score (Higgins et al., 2017, "beta-VAE: Learning Basic Visual
Concepts with a Constrained Variational Framework")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentatlas.metrics.factorvae import (
    IMAGES_PER_CALL,
    GroundTruthDataset,
    RenderedT,
    Representation,
    represent_factors,
)


@dataclass(frozen=True)
class BetaVAEResult:
    train_accuracy: float
    eval_accuracy: float


def compute_beta_vae(
    represent: Representation[RenderedT],
    dataset: GroundTruthDataset[RenderedT],
    *,
    seed: int = 0,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> BetaVAEResult:
    """BetaVAE score: accuracy of predicting which factor was held fixed.

    One point: pick a factor k, draw ``batch_size`` pairs of factor vectors
    that agree on k, feature = mean_pairs |z(x1) - z(x2)|, label = k.  A
    scikit-learn ``LogisticRegression()`` is fitted on ``num_train`` points and
    scored on ``num_eval`` new ones (Higgins et al., ICLR 2017;
    disentanglement_lib protocol).
    """
    rng = np.random.default_rng(seed)
    train_x, train_y = _difference_features(represent, dataset, batch_size, num_train, rng)
    from sklearn.linear_model import LogisticRegression  # here: the CLI and server start without sklearn

    model = LogisticRegression(random_state=seed).fit(train_x, train_y)
    eval_x, eval_y = _difference_features(represent, dataset, batch_size, num_eval, rng)
    return BetaVAEResult(
        train_accuracy=float(np.mean(model.predict(train_x) == train_y)),
        eval_accuracy=float(np.mean(model.predict(eval_x) == eval_y)),
    )


def _difference_features(
    represent: Representation[RenderedT],
    dataset: GroundTruthDataset[RenderedT],
    batch_size: int,
    num_points: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(num_points, D) mean absolute latent differences and their fixed factors."""
    n_factors = len(dataset.factor_sizes)
    per_chunk = max(1, IMAGES_PER_CALL // (2 * batch_size))
    features, labels = [], []
    for start in range(0, num_points, per_chunk):
        m = min(per_chunk, num_points - start)
        fixed = rng.integers(n_factors, size=m)
        first = dataset.sample_factors(m * batch_size, rng).reshape(m, batch_size, n_factors)
        second = dataset.sample_factors(m * batch_size, rng).reshape(m, batch_size, n_factors)
        rows = np.arange(m)
        second[rows, :, fixed] = first[rows, :, fixed]
        z = represent_factors(represent, dataset, np.concatenate([first, second]).reshape(-1, n_factors)).reshape(
            2, m, batch_size, -1
        )
        features.append(np.mean(np.abs(z[0] - z[1]), axis=1))
        labels.append(fixed)
    return np.concatenate(features), np.concatenate(labels)
