"""MED and top-k MED (Cao et al., 2022, "An Empirical Study on Disentanglement of
Negative-free Contrastive Learning", NeurIPS): DCI's disentanglement and
completeness over a mutual-information importance matrix, for representations
with many more dimensions than factors."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from latentatlas.metrics._mi import NUM_BINS, histogram_mutual_info
from latentatlas.metrics.dci import completeness, disentanglement, specificity

REPORTED_TOPK = (1, 2)
"""The k of the top-k MED that cards, their nulls and ceilings, and the zoo protocol report: each
factor's single best latent, and its best two (``compute_metrics`` needs at least 2 latents)."""


@dataclass(frozen=True)
class TopKMED:
    k: int
    disentanglement: float
    completeness: float
    dims: tuple[int, ...]  # the kept latents, ascending


@dataclass(frozen=True)
class MEDResult:
    disentanglement: float
    completeness: float
    informativeness_train: float  # mean accuracy over factors (the reference calls it a loss)
    informativeness_test: float
    importance_matrix: np.ndarray  # (D, K) latents x factors, each column sums to 1
    top: tuple[TopKMED, ...]  # one per requested k, in the order asked

    def as_dict(self) -> dict[str, object]:
        """JSON form: the four scores, then ``"top<k>": {disentanglement, completeness, dims}`` per k."""
        result: dict[str, object] = {
            "disentanglement": self.disentanglement,
            "completeness": self.completeness,
            "informativeness_train": self.informativeness_train,
            "informativeness_test": self.informativeness_test,
        }
        for top in self.top:
            result[f"top{top.k}"] = {
                "disentanglement": top.disentanglement,
                "completeness": top.completeness,
                "dims": list(top.dims),
            }
        return result


def compute_med(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    *,
    topk: tuple[int, ...] = (),
    num_bins: int = NUM_BINS,
    n_jobs: int = 1,
) -> MEDResult:
    """MED, top-k MED and a linear informativeness of latents ``z`` (N, D) for factors ``y`` (N, K).

    On the train rows, m_jk = I(bin(z_j); y_k) is the plug-in MI (nats) of
    latent j, cut into ``num_bins`` equal-width histogram bins, with factor k;
    the importance R_jk = m_jk / sum_i m_ik (each factor's column sums to 1).
    Then, as in DCI, with H_b the entropy in base b (1e-11 inside the logs):

        D = sum_j rho_j (1 - H_K(R_j.)),  rho_j = sum_k R_jk / sum R
        C = sum_k rho_k (1 - H_D(R_.k)),  rho_k = sum_j R_jk / sum R

    Top-k MED: each latent belongs to its largest-importance factor; per
    factor keep its k latents with the highest 1 - H_K(R_j.) (ties: lower
    index first), and D and C of R restricted to the kept rows (not
    renormalised; C's base is the number kept).  Informativeness: mean over
    factors of the train / test accuracy of scikit-learn's default
    LogisticRegression (lbfgs, 100 iterations) on latents standardised with
    train statistics; ``n_jobs`` processes fit the factors.

    Cao et al., NeurIPS 2022; the authors' disentanglement_lib fork,
    ``evaluation/metrics/med.py`` (one k per call there; its argsort leaves
    ties to numpy's quicksort).  A constant latent keeps a zero row, and a
    factor no latent informs a zero column (the reference divides 0 by 0
    there); bad input raises MetricsInputError.
    """
    requested = _check_inputs(z_train, y_train, z_test, y_test, topk, num_bins)
    mutual_info = histogram_mutual_info(z_train, y_train, num_bins).mutual_info
    column_sums = mutual_info.sum(axis=0, keepdims=True)
    importance = np.divide(mutual_info, column_sums, out=np.zeros_like(mutual_info), where=column_sums > 0)
    accuracy_train, accuracy_test = _informativeness(z_train, y_train, z_test, y_test, n_jobs)
    return MEDResult(
        disentanglement=disentanglement(importance),
        completeness=completeness(importance),
        informativeness_train=accuracy_train,
        informativeness_test=accuracy_test,
        importance_matrix=importance,
        top=tuple(_top_k(importance, k) for k in requested),
    )


def med_by_leading_latents(
    z_train: np.ndarray, y_train: np.ndarray, keeps: list[int], *, num_bins: int = NUM_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """MED's disentanglement and completeness over the first C latents, for each C in ``keeps``
    (an ordered model's top C: EOFlow's latents sorted by explained entropy), from one
    mutual-information matrix m (D, K) of every latent (as :func:`compute_med`'s):

        R^(C)_jk = m_jk / sum_{i < C} m_ik   (j < C),   D(C), C(C) of R^(C) as in compute_med,

    which is what compute_med gives on ``z_train[:, :C]`` (no informativeness: one logistic
    regression per C would dominate). Returns two float arrays, one value per C."""
    _check_inputs(z_train, y_train, z_train[:1], y_train[:1], (), num_bins)
    bad = [keep for keep in keeps if not 2 <= keep <= z_train.shape[1]]
    if bad:
        raise _input_error(f"each C must be in 2..{z_train.shape[1]} (MED needs 2 latents), got {bad}")
    mutual_info = histogram_mutual_info(z_train, y_train, num_bins).mutual_info
    d_scores, c_scores = np.empty(len(keeps)), np.empty(len(keeps))
    for i, keep in enumerate(keeps):
        kept = mutual_info[:keep]
        sums = kept.sum(axis=0, keepdims=True)
        importance = np.divide(kept, sums, out=np.zeros_like(kept), where=sums > 0)
        d_scores[i], c_scores[i] = disentanglement(importance), completeness(importance)
    return d_scores, c_scores


def _top_k_dims(importance: np.ndarray, k: int) -> np.ndarray:
    """The latents top-k MED keeps from a (D, K) importance matrix, ascending.

    Latent j belongs to factor argmax_k R_jk; each factor keeps up to k of
    its latents, ordered by 1 - H_K(R_j.) descending and index ascending.
    """
    owner = np.argmax(importance, axis=1)
    order = np.lexsort((-specificity(importance), owner))  # by factor, then most disentangled first
    owner_in_order = owner[order]
    rank_in_factor = np.arange(order.size) - np.searchsorted(owner_in_order, owner_in_order)
    return np.sort(order[rank_in_factor < k])


def _top_k(importance: np.ndarray, k: int) -> TopKMED:
    dims = _top_k_dims(importance, k)
    kept = importance[dims]
    return TopKMED(
        k=k,
        disentanglement=disentanglement(kept),
        completeness=completeness(kept),
        dims=tuple(int(dim) for dim in dims),
    )


def _informativeness(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, n_jobs: int
) -> tuple[float, float]:
    """Mean over factors of the train and test accuracy of a logistic regression z -> y_k."""
    from joblib import Parallel, delayed
    from sklearn.preprocessing import StandardScaler  # here: the CLI and server start without sklearn

    scaler = StandardScaler().fit(z_train)
    x_train, x_test = scaler.transform(z_train), scaler.transform(z_test)
    fits = Parallel(n_jobs=n_jobs)(
        delayed(_accuracies)(x_train, y_train[:, k], x_test, y_test[:, k]) for k in range(y_train.shape[1])
    )
    train, test = np.array(fits).mean(axis=0)
    return float(train), float(test)


def _accuracies(
    x_train: np.ndarray, labels_train: np.ndarray, x_test: np.ndarray, labels_test: np.ndarray
) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        # The reference stops at lbfgs's 100 iterations, converged or not.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression().fit(x_train, labels_train)
    return (
        float(np.mean(model.predict(x_train) == labels_train)),
        float(np.mean(model.predict(x_test) == labels_test)),
    )


def _check_inputs(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    topk: tuple[int, ...],
    num_bins: int,
) -> tuple[int, ...]:
    """Raise MetricsInputError naming what is unusable; return the distinct k of ``topk`` in order."""
    for name, array, columns in (
        ("z_train", z_train, "latents"),
        ("z_test", z_test, "latents"),
        ("y_train", y_train, "factors"),
        ("y_test", y_test, "factors"),
    ):
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
            raise _input_error(f"{name} must be a non-empty 2-D array (N samples x {columns}), got shape {array.shape}")
    for z_name, z, y_name, y in (("z_train", z_train, "y_train", y_train), ("z_test", z_test, "y_test", y_test)):
        if z.shape[0] != y.shape[0]:
            raise _input_error(f"{z_name} has {z.shape[0]} rows but {y_name} has {y.shape[0]}; they must match")
        if not (np.issubdtype(z.dtype, np.integer) or np.issubdtype(z.dtype, np.floating)):
            raise _input_error(f"{z_name} must hold real numbers, got dtype {z.dtype}")
        if not np.isfinite(z).all():
            row, latent = np.argwhere(~np.isfinite(z))[0]
            raise _input_error(f"{z_name} contains NaN or inf (first at row {row}, latent {latent})")
        if not np.issubdtype(y.dtype, np.integer):
            raise _input_error(f"{y_name} must hold integer factor labels, got dtype {y.dtype}")
    if z_test.shape[1] != z_train.shape[1] or y_test.shape[1] != y_train.shape[1]:
        raise _input_error(
            f"train and test must have the same columns: z {z_train.shape[1]} vs {z_test.shape[1]} latents, "
            f"y {y_train.shape[1]} vs {y_test.shape[1]} factors"
        )
    for factor in range(y_train.shape[1]):
        if np.unique(y_train[:, factor]).size < 2:
            raise _input_error(f"factor {factor} takes a single value on the train rows; every factor must vary")
    if np.all(z_train.min(axis=0) == z_train.max(axis=0)):
        raise _input_error("every latent is constant on the train rows; MED needs at least one that varies")
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 2:
        raise _input_error(f"num_bins must be a whole number >= 2, got {num_bins!r}")
    n_latents = z_train.shape[1]
    for k in topk:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_latents:
            raise _input_error(
                f"top-k needs whole numbers k with 1 <= k <= {n_latents} (the number of latents), got {k!r}"
            )
    return tuple(dict.fromkeys(int(k) for k in topk))


def _input_error(message: str) -> ValueError:
    # Imported here: metrics.report, which defines the error, imports this module to run MED.
    from latentatlas.metrics.report import MetricsInputError

    return MetricsInputError(message)
