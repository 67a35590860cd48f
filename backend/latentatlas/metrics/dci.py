"""Disentanglement, Completeness and Informativeness (Eastwood & Williams,
2018, "A Framework for the Quantitative Evaluation of Disentangled
Representations")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from latentatlas.stopping import Stopped

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

# scikit-learn's tree splitter seeds itself with one
# random_state.randint(0, RAND_R_MAX) per tree (sklearn/tree/_utils.pxd).
_SKLEARN_RAND_R_MAX = 2147483647
# dci_fast: depth-3 trees like GradientBoostingClassifier's, and an L2 leaf
# penalty of 1 (XGBoost's default) so the Newton split gains of low-hessian
# nodes do not dominate the importances.
_FAST_PARAMS = {"max_depth": 3, "min_samples_leaf": 1, "l2_regularization": 1.0, "early_stopping": False}


@dataclass(frozen=True)
class DCIResult:
    disentanglement: float
    completeness: float
    informativeness_train: float  # mean accuracy over factors (not an error)
    informativeness_test: float
    importance_matrix: np.ndarray  # (D, K) latents x factors


def compute_dci(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    *,
    n_jobs: int = 2,
    seed: int = 0,
    on_progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DCIResult:
    """DCI with scikit-learn GradientBoostingClassifier (defaults) per factor.

    R_jk = impurity importance of latent j in the classifier for factor k.
    Disentanglement = sum_j rho_j (1 - H_K(R_j. / sum_k R_jk)),
    rho_j = sum_k R_jk / sum R; completeness is the same over factors with
    base-D entropies; 1e-11 is added inside the entropies.  Informativeness is
    the mean train / test accuracy (Eastwood & Williams, ICLR 2018;
    disentanglement_lib protocol).

    The reference fits the factors one after another with random_state=None
    after np.random.seed(seed).  Each tree draws exactly one integer from that
    global stream, so the stream state at the start of every factor is known in
    advance: each factor gets its own replayed RandomState and the fits run in
    parallel over ``n_jobs`` processes with the reference's exact results.
    ``on_progress(fraction)`` is called as each factor's fit completes. ``should_stop`` (picklable,
    e.g. a :class:`~latentatlas.stopping.StopFlag`) is polled after every boosting stage in the
    workers: once it is True every fit ends at its next stage and this raises
    :class:`~latentatlas.stopping.Stopped`.
    """
    from joblib import Parallel, delayed
    from sklearn.ensemble import GradientBoostingClassifier  # here: the CLI and server start without sklearn

    n_factors = y_train.shape[1]
    trees = np.array([_trees_per_stage(y_train[:, k]) for k in range(n_factors)])
    states = _replayed_global_states(seed, trees * GradientBoostingClassifier().n_estimators)
    largest_first = np.argsort(-trees, kind="stable")
    fits = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_fit_factor)(k, z_train, y_train[:, k], z_test, y_test[:, k], states[k], should_stop)
        for k in largest_first.tolist()
    )
    by_factor = {}
    for k, fit in fits:
        if should_stop is not None and should_stop():
            raise Stopped("exact DCI was stopped")
        by_factor[k] = fit
        if on_progress is not None:
            on_progress(len(by_factor) / n_factors)
    return _dci_result([by_factor[k] for k in range(n_factors)])


def _fit_factor(
    k: int,
    z_train: np.ndarray,
    labels_train: np.ndarray,
    z_test: np.ndarray,
    labels_test: np.ndarray,
    random_state: np.random.RandomState,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[int, tuple[np.ndarray, float, float]]:
    """``_fit_gbt`` tagged with its factor (results arrive in completion order)."""
    return k, _fit_gbt(z_train, labels_train, z_test, labels_test, random_state, should_stop)


def compute_dci_fast(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    *,
    seed: int = 0,
) -> DCIResult:
    """DCI (same formulas as compute_dci) from HistGradientBoostingClassifier.

    Depth-3 histogram GBT (100 iterations, learning rate 0.1, L2 leaf penalty
    1); R_jk = total split gain of latent j over all trees of factor k,
    normalised per factor.  An approximation of compute_dci that runs in
    seconds (Eastwood & Williams, ICLR 2018).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    fits = []
    for k in range(y_train.shape[1]):
        model = HistGradientBoostingClassifier(random_state=seed, **_FAST_PARAMS)
        model.fit(z_train, y_train[:, k])
        fits.append(
            (
                _split_gain_importance(model, z_train.shape[1]),
                float(np.mean(model.predict(z_train) == y_train[:, k])),
                float(np.mean(model.predict(z_test) == y_test[:, k])),
            )
        )
    return _dci_result(fits)


def disentanglement(importance_matrix: np.ndarray) -> float:
    """sum_j rho_j (1 - H_K(P_j)) of a (D, K) latent x factor importance matrix."""
    return _weighted_specificity(importance_matrix)


def completeness(importance_matrix: np.ndarray) -> float:
    """sum_k rho_k (1 - H_D(P_.k)) of a (D, K) latent x factor importance matrix."""
    return _weighted_specificity(importance_matrix.T)


def specificity(matrix: np.ndarray) -> np.ndarray:
    """1 - H_C(P_i) for every row i of a non-negative (R, C) matrix.

    P_i is row i + 1e-11, normalised to sum 1, and H_C the entropy in base C
    (the number of columns): 1 for a row in one column, 0 for a uniform row.
    A one-column matrix gives 1 (one outcome has no entropy).
    """
    if matrix.shape[1] == 1:
        return np.ones(matrix.shape[0])
    p = matrix + 1e-11
    p = p / p.sum(axis=1, keepdims=True)
    per_row: np.ndarray = 1.0 + np.sum(p * np.log(p), axis=1) / np.log(matrix.shape[1])
    return per_row


def _weighted_specificity(matrix: np.ndarray) -> float:
    """Row-share-weighted mean of the rows' specificity.

    An all-zero matrix gives every row the same weight, as the reference does.
    """
    total = matrix.sum()
    weights = matrix.sum(axis=1) / total if total > 0 else np.full(matrix.shape[0], 1.0 / matrix.shape[0])
    return float(np.sum(specificity(matrix) * weights))


def _dci_result(fits: list[tuple[np.ndarray, float, float]]) -> DCIResult:
    importance = np.stack([f[0] for f in fits], axis=1)
    return DCIResult(
        disentanglement=disentanglement(importance),
        completeness=completeness(importance),
        informativeness_train=float(np.mean([f[1] for f in fits])),
        informativeness_test=float(np.mean([f[2] for f in fits])),
        importance_matrix=importance,
    )


def _trees_per_stage(labels: np.ndarray) -> int:
    """GradientBoostingClassifier fits one tree per class per stage, one if binary."""
    n_classes = np.unique(labels).size
    return 1 if n_classes == 2 else n_classes


def _replayed_global_states(seed: int, draws: np.ndarray) -> list[np.random.RandomState]:
    """The state np.random.seed(seed) would have before each factor's fit.

    ``draws[k]``: how many per-tree integers factor k's fit consumes.
    """
    stream = np.random.RandomState(seed)
    states = []
    for n in draws:
        state = np.random.RandomState()
        state.set_state(stream.get_state())
        states.append(state)
        stream.randint(0, _SKLEARN_RAND_R_MAX, size=int(n))
    return states


def _fit_gbt(
    z_train: np.ndarray,
    labels_train: np.ndarray,
    z_test: np.ndarray,
    labels_test: np.ndarray,
    random_state: np.random.RandomState,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, float, float]:
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=random_state)
    # sklearn's monitor runs after every stage; True ends the fit there (no effect while False)
    model.fit(z_train, labels_train, monitor=None if should_stop is None else lambda *_: should_stop())
    return (
        np.abs(model.feature_importances_),
        float(np.mean(model.predict(z_train) == labels_train)),
        float(np.mean(model.predict(z_test) == labels_test)),
    )


def _split_gain_importance(model: HistGradientBoostingClassifier, n_features: int) -> np.ndarray:
    """Sum of split gains per feature over all fitted trees, normalised to sum 1."""
    gains = np.zeros(n_features)
    for iteration in model._predictors:
        for tree in iteration:
            splits = tree.nodes[tree.nodes["is_leaf"] == 0]
            np.add.at(gains, splits["feature_idx"], splits["gain"])
    total = gains.sum()
    return gains / total if total > 0 else gains
