"""InfoMEC: InfoM(odularity), InfoE(xplicitness), InfoC(ompactness)
(Hsu et al., 2023, "Disentanglement via Latent Quantization")."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from latentatlas.metrics._mi import encode_columns, entropies, mutual_info_matrix

if TYPE_CHECKING:
    from scipy import sparse

N_NEIGHBORS = 10
# Continuous latents count as active when their range exceeds this fraction
# of the largest latent range.
ACTIVE_RANGE_FRACTION = 1.0 / 20.0
# InfoE at or below this: the latents predict the factors hardly better than chance, so the
# NMI behind InfoM and InfoC is estimator noise and those two scores mean little.
INFOE_NEAR_ZERO = 0.05


@dataclass(frozen=True)
class InfoMECResult:
    infom: float
    infoc: float
    infoe: float
    nmi: np.ndarray  # (K, D) sources x latents, I(s_i; z_j) / H(s_i)
    active_latents: np.ndarray  # (D,) bool
    infoe_near_zero: bool  # infoe <= INFOE_NEAR_ZERO: InfoM and InfoC are not meaningful


def compute_infomec(
    z: np.ndarray,
    y: np.ndarray,
    *,
    discrete_latents: bool = False,
    seed: int = 0,
    n_neighbors: int = N_NEIGHBORS,
) -> InfoMECResult:
    """InfoM, InfoC and InfoE of latents ``z`` (N, D) for sources ``y`` (N, K).

    NMI_ij = I(s_i; z_j) / H(s_i): plug-in MI for discrete latents, the
    k-nearest-neighbour continuous-discrete estimator (Ross 2014, k = 10, on
    standardised latents with scikit-learn's 1e-10 jitter drawn from
    RandomState(seed)) for continuous ones.  With P the NMI over the L active
    latents:
    InfoM = (mean_j max_i P_ij / sum_i P_ij - 1/K) / (1 - 1/K),
    InfoC = (mean_i max_j P_ij / sum_j P_ij - 1/L) / (1 - 1/L),
    InfoE = mean_i (H_null - H_pred) / H_null with H_pred the in-sample
    log-loss of an unpenalised class-balanced multinomial logistic regression
    (lbfgs, 100 iterations) from the standardised latents (one-hot codes if
    discrete) and H_null = log(#classes), the log-loss that model reaches on
    all-zero inputs (Hsu et al., NeurIPS 2023).  ``infoe_near_zero`` flags
    InfoE <= INFOE_NEAR_ZERO: the latents carry next to no information about
    the factors, and InfoM / InfoC then measure the concentration of noise.
    """
    sources, source_cards = encode_columns(y)
    source_entropy = entropies(sources, source_cards)
    if discrete_latents:
        codes, cards = encode_columns(z)
        mi = mutual_info_matrix(sources, source_cards, codes, cards)
        features = _one_hot(codes, cards)
    else:
        features = _standardize(z)
        mi = _knn_mi_matrix(features, sources, source_cards, n_neighbors, seed)
    nmi = mi / source_entropy[:, None]

    ranges = z.max(axis=0) - z.min(axis=0)
    threshold = 0.0 if discrete_latents else ranges.max() * ACTIVE_RANGE_FRACTION
    active = ranges > threshold
    pruned = nmi[:, active]
    infoe = _infoe(features, sources, source_cards)
    return InfoMECResult(
        infom=_concentration(pruned.T),
        infoc=_concentration(pruned),
        infoe=infoe,
        nmi=nmi,
        active_latents=active,
        infoe_near_zero=infoe <= INFOE_NEAR_ZERO,
    )


def _concentration(matrix: np.ndarray) -> float:
    """(mean over rows of max/sum - 1/n) / (1 - 1/n), n = number of columns.

    A row without any information counts as spread uniformly.  Without
    active latents (an empty matrix) the score is 0; with a single column
    it is 1.
    """
    n = matrix.shape[1]
    if matrix.size == 0:
        return 0.0
    if n == 1:
        return 1.0
    totals = matrix.sum(axis=1)
    share = np.full(matrix.shape[0], 1.0 / n)
    informative = totals > 0
    share[informative] = matrix[informative].max(axis=1) / totals[informative]
    return float((share.mean() - 1.0 / n) / (1.0 - 1.0 / n))


def _standardize(z: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column (constant columns are only centred)."""
    std = z.std(axis=0)
    std[std == 0] = 1.0
    standardized: np.ndarray = (z - z.mean(axis=0)) / std
    return standardized


def _one_hot(codes: np.ndarray, cards: np.ndarray) -> sparse.csr_matrix:
    """Sparse one-hot encoding of every code column, columns in code order."""
    from scipy import sparse  # here: the CLI and server start without scipy

    n, d = codes.shape
    offsets = np.concatenate([[0], np.cumsum(cards)[:-1]])
    return sparse.csr_matrix(
        (np.ones(n * d), (codes + offsets).ravel(), np.arange(0, n * d + 1, d)),
        shape=(n, int(cards.sum())),
    )


def _infoe(features: np.ndarray | sparse.csr_matrix, sources: np.ndarray, cards: np.ndarray) -> float:
    from sklearn.exceptions import ConvergenceWarning  # here: the CLI and server start without sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    scores = np.empty(sources.shape[1])
    for i in range(sources.shape[1]):
        model = LogisticRegression(C=np.inf, class_weight="balanced", max_iter=100)
        with warnings.catch_warnings():
            # 100 lbfgs iterations is the definition, not a defect.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(features, sources[:, i])
        h_pred = log_loss(sources[:, i], model.predict_proba(features))
        h_null = np.log(cards[i])
        scores[i] = (h_null - h_pred) / h_null
    return float(scores.mean())


def _knn_mi_matrix(x: np.ndarray, sources: np.ndarray, cards: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    """(K, D) kNN MI between each source and each standardised latent column.

    Each column gets scikit-learn's jitter 1e-10 * max(1, mean|x|) * N(0, 1),
    drawn in the order mutual_info_classif draws it (source-major).
    """
    rng = np.random.RandomState(seed)
    jitter_scale = 1e-10 * np.maximum(1.0, np.mean(np.abs(x), axis=0))
    out = np.empty((sources.shape[1], x.shape[1]))
    for i in range(sources.shape[1]):
        noise = rng.standard_normal((x.shape[1], x.shape[0]))
        for j in range(x.shape[1]):
            jittered = x[:, j] + jitter_scale[j] * noise[j]
            out[i, j] = _knn_mi_continuous_discrete(jittered, sources[:, i], int(cards[i]), n_neighbors)
    return out


def _knn_mi_continuous_discrete(x: np.ndarray, labels: np.ndarray, n_classes: int, n_neighbors: int) -> float:
    """Ross (2014) MI estimate between a 1-D continuous x and discrete labels.

    psi(N) + <psi(k_i)> - <psi(N_label_i)> - <psi(m_i)>, where the k-th
    nearest same-label neighbour of point i lies at distance d_i and m_i
    counts all points (i included) closer than d_i; labels seen once are
    dropped; clipped at 0.  Exact 1-D neighbour search on sorted values.
    """
    counts = np.bincount(labels, minlength=n_classes)
    keep = counts[labels] > 1
    x, labels = x[keep], labels[keep]
    n = x.size
    if n == 0:
        return 0.0
    order = np.lexsort((x, labels))
    xs, ls = x[order], labels[order]
    class_size = counts[ls]
    k = np.minimum(n_neighbors, class_size - 1)
    first = np.searchsorted(ls, ls, "left")
    stop = np.searchsorted(ls, ls, "right")
    pos = np.arange(n)[:, None]
    steps = np.arange(1, int(k.max()) + 1)[None, :]
    left, right = pos - steps, pos + steps
    left_gap = np.where(left >= first[:, None], xs[:, None] - xs[np.maximum(left, 0)], np.inf)
    right_gap = np.where(right < stop[:, None], xs[np.minimum(right, n - 1)] - xs[:, None], np.inf)
    kth = np.sort(np.concatenate([left_gap, right_gap], axis=1), axis=1)[np.arange(n), k - 1]
    # Strictly closer than the k-th neighbour: scikit-learn's radius is
    # nextafter(d, 0), inclusive.
    radius = np.nextafter(kth, 0.0)
    everyone = np.sort(x)
    above = _first_true(n, lambda idx: everyone[idx] - xs > radius)
    within = _first_true(n, lambda idx: xs - everyone[idx] <= radius)
    m = above - within
    from scipy.special import digamma  # here: the CLI and server start without scipy

    mi = digamma(n) + np.mean(digamma(k)) - np.mean(digamma(class_size)) - np.mean(digamma(m))
    return max(0.0, float(mi))


def _first_true(n: int, predicate: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Vectorised bisection for n queries over n sorted candidates.

    ``predicate(idx)`` evaluates, for every query q, the condition at
    candidate idx[q]; it must be monotone (False then True) in the candidate
    index.  Returns, per query, the first candidate where it holds (n if none).
    """
    lo = np.zeros(n, dtype=np.intp)
    hi = np.full(n, n, dtype=np.intp)
    while True:
        searching = lo < hi
        if not searching.any():
            return lo
        mid = (lo + hi) // 2
        hit = predicate(np.minimum(mid, n - 1))
        hi = np.where(searching & hit, mid, hi)
        lo = np.where(searching & ~hit, mid + 1, lo)
