"""Modularity and explicitness (Ridgeway & Mozer, 2018, "Learning Deep
Disentangled Embeddings With the F-Statistic Loss")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentatlas.metrics._mi import NUM_BINS, histogram_mutual_info


@dataclass(frozen=True)
class ModularityResult:
    modularity: float
    per_latent: np.ndarray  # (D,)
    mutual_info: np.ndarray  # (D, K) nats


@dataclass(frozen=True)
class ExplicitnessResult:
    train: float
    test: float
    per_factor_train: np.ndarray  # (K,) macro ROC-AUC
    per_factor_test: np.ndarray  # (K,)


def compute_modularity(z: np.ndarray, y: np.ndarray, num_bins: int = NUM_BINS) -> ModularityResult:
    """Modularity = mean_j (1 - (sum_k m_jk^2 - theta_j) / (theta_j (K - 1))).

    m is the plug-in MI of the ``num_bins``-bin discretised latents with the
    factors and theta_j = max_k m_jk^2; a latent with theta_j = 0 scores 0
    (Ridgeway & Mozer, NeurIPS 2018; disentanglement_lib protocol).
    """
    return modularity_from_mutual_info(histogram_mutual_info(z, y, num_bins).mutual_info)


def modularity_from_mutual_info(mutual_info: np.ndarray) -> ModularityResult:
    """Modularity of a (D, K) latent x factor MI matrix (see compute_modularity)."""
    squared = np.square(mutual_info)
    theta = squared.max(axis=1)
    spread = squared.sum(axis=1) - theta
    denom = theta * (squared.shape[1] - 1.0)
    per_latent = np.zeros(squared.shape[0])
    informative = theta > 0
    per_latent[informative] = 1.0 - spread[informative] / denom[informative]
    return ModularityResult(modularity=float(per_latent.mean()), per_latent=per_latent, mutual_info=mutual_info)


def compute_explicitness(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray
) -> ExplicitnessResult:
    """Explicitness = mean_k macro ROC-AUC of a logistic regression z -> y_k.

    Latents are standardised with train statistics; per factor a
    scikit-learn ``LogisticRegression()`` (defaults: multinomial, C = 1,
    lbfgs) is fitted on train rows and its class probabilities scored by the
    one-vs-rest ROC-AUC averaged over classes, on train and on test rows
    (Ridgeway & Mozer, NeurIPS 2018; disentanglement_lib protocol).
    """
    from sklearn.linear_model import LogisticRegression  # here: the CLI and server start without sklearn

    mean = z_train.mean(axis=0)
    std = z_train.std(axis=0)
    std[std == 0] = 1.0
    x_train = (z_train - mean) / std
    x_test = (z_test - mean) / std
    n_factors = y_train.shape[1]
    auc_train = np.empty(n_factors)
    auc_test = np.empty(n_factors)
    for k in range(n_factors):
        clf = LogisticRegression().fit(x_train, y_train[:, k])
        auc_train[k] = _macro_auc(y_train[:, k], clf.classes_, clf.predict_proba(x_train))
        auc_test[k] = _macro_auc(y_test[:, k], clf.classes_, clf.predict_proba(x_test))
    return ExplicitnessResult(
        train=float(auc_train.mean()),
        test=float(auc_test.mean()),
        per_factor_train=auc_train,
        per_factor_test=auc_test,
    )


def _macro_auc(labels: np.ndarray, classes: np.ndarray, proba: np.ndarray) -> float:
    """Mean over classes of the one-vs-rest ROC-AUC (Mann-Whitney form, ties 1/2).

    Classes without positives or without negatives among ``labels`` are left out.
    """
    from scipy.stats import rankdata  # here: the CLI and server start without scipy.stats

    positive = labels[:, None] == classes[None, :]
    n_pos = positive.sum(axis=0)
    n_neg = labels.shape[0] - n_pos
    rank_sum = np.where(positive, rankdata(proba, axis=0), 0.0).sum(axis=0)
    scored = (n_pos > 0) & (n_neg > 0)
    auc = (rank_sum[scored] - n_pos[scored] * (n_pos[scored] + 1) / 2.0) / (n_pos[scored] * n_neg[scored])
    return float(auc.mean())
