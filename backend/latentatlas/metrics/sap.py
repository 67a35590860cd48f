"""Separated Attribute Predictability (Kumar et al., 2018, "Variational
Inference of Disentangled Latent Concepts from Unlabeled Observations")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SVM_C = 0.01
_NEWTON_MAX_ITER = 100
_LINE_SEARCH_MAX_HALVINGS = 40


@dataclass(frozen=True)
class SAPResult:
    sap: float
    score_matrix: np.ndarray  # (D, K)


def compute_sap(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    continuous_factors: bool = False,
    svm_c: float = SVM_C,
) -> SAPResult:
    """SAP = mean_k (S_(1)k - S_(2)k), the gap between the two best latents.

    Discrete factors (default): S_jk is the test accuracy of a one-vs-rest
    linear SVM (squared hinge, C = 0.01, balanced class weights, regularised
    intercept: scikit-learn's ``LinearSVC`` problem) predicting y_k from z_j
    alone, solved exactly by a vectorised Newton method on sorted prefix sums.
    Continuous factors: S_jk = cov(z_j, y_k)^2 / (var z_j var y_k) on the train
    rows, 0 where var z_j <= 1e-12 (Kumar et al., ICLR 2018;
    disentanglement_lib protocol).
    """
    if continuous_factors:
        scores = _squared_correlation_matrix(z_train, y_train)
    else:
        scores = _svm_accuracy_matrix(z_train, y_train, z_test, y_test, svm_c)
    ordered = np.sort(scores, axis=0)
    return SAPResult(sap=float(np.mean(ordered[-1] - ordered[-2])), score_matrix=scores)


def _squared_correlation_matrix(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """cov(z_j, y_k)^2 / (var z_j var y_k), 0 for latents with var <= 1e-12."""
    zc = z - z.mean(axis=0)
    yc = y - y.mean(axis=0)
    dof = z.shape[0] - 1.0
    cov = zc.T @ yc / dof
    var_z = np.sum(zc * zc, axis=0) / dof
    var_y = np.sum(yc * yc, axis=0) / dof
    scores: np.ndarray = np.zeros_like(cov)
    live = var_z > 1e-12
    scores[live] = cov[live] ** 2 / (var_z[live, None] * var_y[None, :])
    return scores


@dataclass(frozen=True)
class _OneVsRest:
    """The binary problems liblinear builds for one factor.

    More than two classes: one problem per class, positives weighted
    C * w_class, negatives C.  Two classes: one problem, class 1 positive,
    each side weighted by its own class weight.
    """

    classes: np.ndarray  # (n_classes,)
    positive: np.ndarray  # (N, P) bool
    c_pos: np.ndarray  # (P,)
    c_neg: np.ndarray  # (P,)


def _one_vs_rest(labels: np.ndarray, svm_c: float) -> _OneVsRest:
    classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    class_weight = labels.shape[0] / (classes.size * counts)
    if classes.size == 2:
        return _OneVsRest(
            classes=classes,
            positive=(codes == 1)[:, None],
            c_pos=np.array([svm_c * class_weight[1]]),
            c_neg=np.array([svm_c * class_weight[0]]),
        )
    return _OneVsRest(
        classes=classes,
        positive=codes[:, None] == np.arange(classes.size)[None, :],
        c_pos=svm_c * class_weight,
        c_neg=np.full(classes.size, svm_c),
    )


def _svm_accuracy_matrix(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    svm_c: float,
) -> np.ndarray:
    """Test accuracy of the one-latent linear SVM for every latent x factor."""
    factors = [_one_vs_rest(y_train[:, k], svm_c) for k in range(y_train.shape[1])]
    positive = np.concatenate([f.positive for f in factors], axis=1)
    c_pos = np.concatenate([f.c_pos for f in factors])
    c_neg = np.concatenate([f.c_neg for f in factors])
    bounds = np.cumsum([0] + [f.c_pos.size for f in factors])
    scores = np.empty((z_train.shape[1], y_train.shape[1]))
    for j in range(z_train.shape[1]):
        slope, intercept = _fit_squared_hinge_1d(z_train[:, j], positive, c_pos, c_neg)
        decision = z_test[:, j, None] * slope + intercept
        for k, factor in enumerate(factors):
            block = decision[:, bounds[k] : bounds[k + 1]]
            if factor.classes.size == 2:
                predicted = factor.classes[(block[:, 0] > 0).astype(np.intp)]
            else:
                predicted = factor.classes[np.argmax(block, axis=1)]
            scores[j, k] = np.mean(predicted == y_test[:, k])
    return scores


@dataclass(frozen=True)
class _HingePieces:
    """Sorted data and prefix sums that give the objective in O(P log N)."""

    xs: np.ndarray  # (N,) sorted
    all_prefix: np.ndarray  # (N+1, 3) prefix sums of (1, x, x^2)
    pos_prefix: np.ndarray  # (N+1, P, 3) the same over each problem's positives
    c_pos: np.ndarray
    c_neg: np.ndarray

    def evaluate(self, w: np.ndarray, b: np.ndarray, with_derivatives: bool = False) -> tuple[np.ndarray, ...]:
        n = self.xs.size
        cols = np.arange(w.size)
        flat = w == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t_pos = (1.0 - b) / w  # positives violate where w x + b < 1
            t_neg = (-1.0 - b) / w  # negatives violate where w x + b > -1
        lo_p = np.where(w < 0, np.searchsorted(self.xs, t_pos, "right"), 0)
        hi_p = np.where(w > 0, np.searchsorted(self.xs, t_pos, "left"), n)
        hi_p = np.where(flat & (b >= 1), 0, hi_p)
        lo_n = np.where(w > 0, np.searchsorted(self.xs, t_neg, "right"), 0)
        hi_n = np.where(w < 0, np.searchsorted(self.xs, t_neg, "left"), n)
        hi_n = np.where(flat & (b <= -1), 0, hi_n)
        sp = self.pos_prefix[hi_p, cols] - self.pos_prefix[lo_p, cols]
        sn = (self.all_prefix[hi_n] - self.all_prefix[lo_n]) - (
            self.pos_prefix[hi_n, cols] - self.pos_prefix[lo_n, cols]
        )
        cp, cn = self.c_pos, self.c_neg
        a_p, a_n = 1.0 - b, 1.0 + b
        f = (
            0.5 * (w * w + b * b)
            + cp * (sp[:, 0] * a_p * a_p - 2 * a_p * w * sp[:, 1] + w * w * sp[:, 2])
            + cn * (sn[:, 0] * a_n * a_n + 2 * a_n * w * sn[:, 1] + w * w * sn[:, 2])
        )
        if not with_derivatives:
            return (f,)
        g_w = w - 2 * cp * (a_p * sp[:, 1] - w * sp[:, 2]) + 2 * cn * (a_n * sn[:, 1] + w * sn[:, 2])
        g_b = b - 2 * cp * (a_p * sp[:, 0] - w * sp[:, 1]) + 2 * cn * (a_n * sn[:, 0] + w * sn[:, 1])
        h_ww = 1 + 2 * cp * sp[:, 2] + 2 * cn * sn[:, 2]
        h_wb = 2 * cp * sp[:, 1] + 2 * cn * sn[:, 1]
        h_bb = 1 + 2 * cp * sp[:, 0] + 2 * cn * sn[:, 0]
        return f, g_w, g_b, h_ww, h_wb, h_bb


def _fit_squared_hinge_1d(
    x: np.ndarray, positive: np.ndarray, c_pos: np.ndarray, c_neg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact minimisers (w_p, b_p) of P one-feature squared-hinge SVMs.

    Problem p: 0.5 (w^2 + b^2) + sum_i C_i max(0, 1 - s_i (w x_i + b))^2 with
    s_i = +1 and C_i = c_pos[p] for positive[:, p], s_i = -1 and C_i = c_neg[p]
    otherwise.  In one dimension the margin-violating points of each side form
    a prefix or suffix of the sorted x, so every Newton step needs only
    searchsorted and prefix sums of (1, x, x^2).
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    moments = np.stack([np.ones_like(xs), xs, xs * xs], axis=1)
    all_prefix = np.zeros((xs.size + 1, 3))
    np.cumsum(moments, axis=0, out=all_prefix[1:])
    pos_prefix = np.zeros((xs.size + 1, positive.shape[1], 3))
    np.cumsum(positive[order][:, :, None] * moments[:, None, :], axis=0, out=pos_prefix[1:])
    pieces = _HingePieces(xs, all_prefix, pos_prefix, c_pos, c_neg)

    w = np.zeros(c_pos.size)
    b = np.zeros(c_pos.size)
    for _ in range(_NEWTON_MAX_ITER):
        f, g_w, g_b, h_ww, h_wb, h_bb = pieces.evaluate(w, b, with_derivatives=True)
        det = h_ww * h_bb - h_wb * h_wb
        step_w = -(h_bb * g_w - h_wb * g_b) / det
        step_b = -(h_ww * g_b - h_wb * g_w) / det
        slope = g_w * step_w + g_b * step_b
        t = np.ones_like(w)
        for _ in range(_LINE_SEARCH_MAX_HALVINGS):
            f_new = pieces.evaluate(w + t * step_w, b + t * step_b)[0]
            rejected = f_new > f + 1e-4 * t * slope + 1e-12 * np.abs(f)
            if not rejected.any():
                break
            t = np.where(rejected, 0.5 * t, t)
        w = w + t * step_w
        b = b + t * step_b
        moved = np.maximum(np.abs(t * step_w), np.abs(t * step_b))
        if np.all(moved <= 1e-13 * (1.0 + np.maximum(np.abs(w), np.abs(b)))):
            break
    return w, b
