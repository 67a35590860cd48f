"""Analytic and sanity checks: the reference's own tests, and each fast path
against the scikit-learn computation it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.feature_selection import mutual_info_classif
from sklearn.metrics import mutual_info_score, roc_auc_score
from sklearn.preprocessing import label_binarize
from sklearn.svm import LinearSVC

from latentatlas.metrics import (
    _mi,
    completeness,
    compute_beta_vae,
    compute_dci,
    compute_dci_fast,
    compute_explicitness,
    compute_factor_vae,
    compute_factor_vae_corrected,
    compute_infomec,
    compute_mig,
    compute_modularity,
    compute_sap,
    disentanglement,
)
from latentatlas.metrics._mi import (
    encode_columns,
    entropies,
    histogram_discretize,
    mutual_info_matrix,
)
from latentatlas.metrics.infomec import INFOE_NEAR_ZERO, _knn_mi_matrix
from latentatlas.metrics.modularity import _macro_auc, modularity_from_mutual_info
from latentatlas.metrics.sap import _fit_squared_hinge_1d, _one_vs_rest


def _identity_factors(n: int, n_factors: int = 10, seed: int = 0) -> np.ndarray:
    """The reference tests' data: factors with values 1..10, observed directly."""
    return np.random.default_rng(seed).integers(1, 11, size=(n, n_factors))


@pytest.fixture(scope="module")
def identity() -> tuple[np.ndarray, np.ndarray]:
    y = _identity_factors(3000)
    return y.astype(np.float64), y


# --- hand-made importance / MI matrices (disentanglement_lib's unit tests) ---

DIAGONAL = np.diag(5.0 * np.ones(5))
EMPTY_CODES = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
REDUNDANT = np.vstack([DIAGONAL, DIAGONAL])
ONE_CODE_TWO_FACTORS = np.hstack([DIAGONAL, DIAGONAL])


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        (DIAGONAL, 1.0),
        (EMPTY_CODES, 1.0),
        (np.zeros((10, 10)), 0.0),
        (REDUNDANT, 1.0),
        (DIAGONAL[:2, :], 1.0),
        (ONE_CODE_TWO_FACTORS, 1.0 - np.log(2) / np.log(10)),
    ],
    ids=["diagonal", "empty-codes", "zero", "redundant-codes", "missed-factors", "one-code-two-factors"],
)
def test_disentanglement_of_importance_matrices(matrix: np.ndarray, expected: float) -> None:
    assert disentanglement(matrix) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        (DIAGONAL, 1.0),
        (EMPTY_CODES, 1.0),
        (np.zeros((10, 10)), 0.0),
        (REDUNDANT, 1.0 - np.log(2) / np.log(10)),
        (DIAGONAL[:2, :], 1.0),
        (ONE_CODE_TWO_FACTORS, 1.0),
    ],
    ids=["diagonal", "empty-codes", "zero", "redundant-codes", "missed-factors", "one-code-two-factors"],
)
def test_completeness_of_importance_matrices(matrix: np.ndarray, expected: float) -> None:
    assert completeness(matrix) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        (DIAGONAL, 1.0),
        (EMPTY_CODES, 2.0 / 3.0),
        (np.zeros((10, 10)), 0.0),
        (REDUNDANT, 1.0),
        (DIAGONAL[:2, :], 1.0),
        (ONE_CODE_TWO_FACTORS, 1.0 - 1.0 / 9.0),
    ],
    ids=["diagonal", "empty-codes", "zero", "redundant-codes", "missed-factors", "one-code-two-factors"],
)
def test_modularity_of_mutual_information_matrices(matrix: np.ndarray, expected: float) -> None:
    assert modularity_from_mutual_info(matrix).modularity == pytest.approx(expected, abs=1e-12)


# --- identity, all-zero and duplicated representations ---


def test_mig_sanity(identity: tuple[np.ndarray, np.ndarray]) -> None:
    z, y = identity
    assert 0.9 <= compute_mig(z, y).mig <= 1.0
    assert compute_mig(np.zeros_like(z), y).mig == pytest.approx(0.0, abs=1e-12)
    assert 0.0 <= compute_mig(np.hstack([z, z]), y).mig <= 0.1


@pytest.mark.parametrize("continuous_factors", [True, False])
def test_sap_sanity(identity: tuple[np.ndarray, np.ndarray], continuous_factors: bool) -> None:
    z, y = identity
    half = z.shape[0] // 2

    def sap(latents: np.ndarray) -> float:
        return compute_sap(
            latents[:half], y[:half], latents[half:], y[half:], continuous_factors=continuous_factors
        ).sap

    if continuous_factors:  # the reference's identity check (discrete: see below)
        assert 0.9 <= sap(z) <= 1.0
    assert sap(np.zeros_like(z)) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 <= sap(np.hstack([z, z])) <= 0.2


def test_sap_discrete_identity_beats_every_other_latent(identity: tuple[np.ndarray, np.ndarray]) -> None:
    """A one-feature linear SVM cannot separate 10 ordered classes, so the
    identity's accuracy is well below 1; it must still dominate each column."""
    z, y = identity
    half = z.shape[0] // 2
    scores = compute_sap(z[:half], y[:half], z[half:], y[half:]).score_matrix
    assert (np.argmax(scores, axis=0) == np.arange(10)).all()
    assert compute_sap(z[:half], y[:half], z[half:], y[half:]).sap > 0.1


def test_modularity_sanity(identity: tuple[np.ndarray, np.ndarray]) -> None:
    z, y = identity
    assert 0.9 <= compute_modularity(z, y).modularity <= 1.0
    assert 0.9 <= compute_modularity(np.hstack([z, z]), y).modularity <= 1.0
    assert compute_modularity(np.zeros_like(z), y).modularity == 0.0
    # Each sample's factors shuffled across latents: MI is spread evenly.
    big = _identity_factors(20000, seed=1)
    rng = np.random.default_rng(2)
    permuted = np.take_along_axis(big, rng.permuted(np.tile(np.arange(10), (big.shape[0], 1)), axis=1), axis=1)
    assert 0.0 <= compute_modularity(permuted.astype(np.float64), big).modularity <= 0.2


def test_dci_exact_sanity() -> None:
    """compute_dci on the identity (factors with 4 values, to stay fast), on an
    all-zero and on a duplicated representation."""
    y = np.random.default_rng(0).integers(1, 5, size=(400, 3))
    z = y.astype(np.float64)

    def dci(latents: np.ndarray):
        return compute_dci(latents[:200], y[:200], latents[200:], y[200:], n_jobs=1)

    good = dci(z)
    assert 0.9 <= good.disentanglement <= 1.0
    assert 0.9 <= good.completeness <= 1.0
    zero = dci(np.zeros_like(z))
    assert zero.disentanglement == pytest.approx(0.0, abs=1e-7)
    assert zero.completeness == pytest.approx(0.0, abs=1e-7)
    duplicated = dci(np.hstack([z, z]))
    assert 0.9 <= duplicated.disentanglement <= 1.0
    # The trees' random feature order splits the importance between the copies.
    assert duplicated.completeness == pytest.approx(1.0 - np.log(2) / np.log(6), abs=0.1)


def test_dci_reports_each_factor_and_gives_the_same_result() -> None:
    """The progress callback sees one call per factor (fractions up to 1) and changes nothing;
    two processes give the result of one (each factor replays its own random stream)."""
    rng = np.random.default_rng(3)
    y = rng.integers(1, 4, size=(300, 3))
    z = y + 0.3 * rng.standard_normal(y.shape)
    seen: list[float] = []
    reported = compute_dci(z[:200], y[:200], z[200:], y[200:], n_jobs=2, on_progress=seen.append)
    plain = compute_dci(z[:200], y[:200], z[200:], y[200:], n_jobs=1)
    assert sorted(seen) == seen and seen[-1] == 1.0 and len(seen) == 3
    np.testing.assert_array_equal(reported.importance_matrix, plain.importance_matrix)
    assert reported.disentanglement == plain.disentanglement


def test_dci_fast_sanity() -> None:
    y = _identity_factors(1000, n_factors=4)
    z = y.astype(np.float64)
    good = compute_dci_fast(z[:500], y[:500], z[500:], y[500:])
    assert 0.9 <= good.disentanglement <= 1.0
    assert 0.9 <= good.completeness <= 1.0
    assert good.informativeness_test >= 0.99
    zero = compute_dci_fast(np.zeros_like(z[:500]), y[:500], np.zeros_like(z[500:]), y[500:])
    assert (zero.disentanglement, zero.completeness) == pytest.approx((0.0, 0.0), abs=1e-7)


def test_dci_parallel_replays_the_reference_global_rng() -> None:
    """disentanglement_lib fits factor after factor with random_state=None
    after np.random.seed(seed); the parallel fits must give identical trees.
    Includes a binary factor (one tree per stage) and tied latents."""
    rng = np.random.default_rng(3)
    y = np.stack([rng.integers(0, 2, 240), rng.integers(0, 3, 240), rng.integers(0, 4, 240)], axis=1)
    z = np.column_stack([y[:, 0] + 0.3 * rng.normal(size=240), y[:, 1] + y[:, 2], y[:, 2], y[:, 2]])
    seed = 5
    np.random.seed(seed)
    reference = []
    for k in range(3):
        model = GradientBoostingClassifier().fit(z[:160], y[:160, k])
        reference.append(model.feature_importances_)
    result = compute_dci(z[:160], y[:160], z[160:], y[160:], n_jobs=2, seed=seed)
    np.testing.assert_array_equal(result.importance_matrix, np.stack(reference, axis=1))


@pytest.mark.parametrize("discrete_latents", [False, True])
def test_infomec_sanity(discrete_latents: bool) -> None:
    y = _identity_factors(5000)
    z = y.astype(np.float64)
    good = compute_infomec(z, y, discrete_latents=discrete_latents)
    assert good.infom >= 0.9
    assert good.infoc >= 0.9
    assert good.infoe >= 0.99
    assert good.active_latents.all()
    assert not good.infoe_near_zero
    zero = compute_infomec(np.zeros_like(z), y, discrete_latents=discrete_latents)
    assert not zero.active_latents.any()
    assert (zero.infom, zero.infoc) == (0.0, 0.0)
    assert zero.infoe == pytest.approx(0.0, abs=1e-9)
    assert zero.infoe_near_zero


def test_infomec_flags_noise_latents_whose_infoe_is_near_zero() -> None:
    """Pure-noise latents get a sizeable InfoM (the concentration of estimator noise) and
    InfoE ~ 0: the flag says InfoM and InfoC are not to be read."""
    rng = np.random.default_rng(0)
    y = _identity_factors(3000)
    noise = compute_infomec(rng.standard_normal((3000, 4)), y)
    assert noise.infoe <= INFOE_NEAR_ZERO and noise.infoe_near_zero


# --- fast paths against the scikit-learn computations they replace ---


def test_histogram_discretize_matches_numpy_histogram_and_digitize() -> None:
    z = np.random.default_rng(4).normal(size=(500, 3)) ** 3
    z[:, 2] = 1.5  # constant column
    expected = np.stack([np.digitize(z[:, j], np.histogram(z[:, j], 20)[1][:-1]) for j in range(3)], axis=1)
    np.testing.assert_array_equal(histogram_discretize(z, 20), expected)


def test_mutual_info_matrix_and_entropy_match_sklearn() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 7, size=(400, 4)) * 3 - 2  # non-contiguous labels
    b = np.column_stack([a[:, 0] // 2, rng.integers(0, 3, 400), a[:, 1] % 4])
    a_codes, a_cards = encode_columns(a)
    b_codes, b_cards = encode_columns(b)
    ours = mutual_info_matrix(a_codes, a_cards, b_codes, b_cards)
    expected = np.array([[mutual_info_score(b[:, k], a[:, j]) for k in range(3)] for j in range(4)])
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    np.testing.assert_allclose(
        entropies(b_codes, b_cards), [mutual_info_score(b[:, k], b[:, k]) for k in range(3)], atol=1e-12
    )


def test_blocked_discretisation_and_mi_match_the_per_column_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 7 columns: edges between blocks, rounding at the bin edges, int and float32 input."""
    monkeypatch.setattr(_mi, "_BLOCK_ELEMENTS", 7 * 300)
    rng = np.random.default_rng(6)
    z = rng.normal(size=(300, 23)) * np.exp(3 * rng.normal(size=23)) + 100 * rng.normal(size=23)
    for j in range(0, 23, 2):  # put a third of the values exactly on the column's bin edges
        edges = np.histogram_bin_edges(z[:, j], 20)
        z[rng.random(300) < 1 / 3, j] = edges[rng.integers(0, 21)]
    z[:, 5] = -4.0
    for latents in (z, z.astype(np.float32), np.round(z).astype(np.int64)):
        expected = np.stack(
            [np.digitize(latents[:, j], np.histogram(latents[:, j], 20)[1][:-1]) for j in range(23)], axis=1
        )
        np.testing.assert_array_equal(histogram_discretize(latents, 20), expected)
    bins = histogram_discretize(z, 20)
    y = rng.integers(0, 5, size=(300, 3))
    y_codes, y_cards = encode_columns(y)
    ours = mutual_info_matrix(bins, np.full(23, 21), y_codes, y_cards)
    reference = [[mutual_info_score(y[:, k], bins[:, j]) for k in range(3)] for j in range(23)]
    np.testing.assert_allclose(ours, reference, atol=1e-12)


def test_knn_mi_matches_mutual_info_classif_with_its_jitter() -> None:
    """Same estimator, same jitter stream: agreement to rounding.  Covers a
    class smaller than n_neighbors, a singleton class and tied latent values."""
    rng = np.random.default_rng(6)
    n = 400
    sources = np.column_stack([rng.integers(0, 4, n), rng.integers(0, 3, n)])
    sources[:6, 1] = 3  # a class of 6 < n_neighbors + 1
    sources[6, 1] = 4  # a singleton class
    x = np.column_stack([sources[:, 0] + rng.normal(size=n), rng.integers(0, 5, n), rng.normal(size=n)])
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    codes, cards = encode_columns(sources)
    ours = _knn_mi_matrix(x, codes, cards, n_neighbors=10, seed=11)
    np.random.seed(11)
    expected = np.array(
        [
            [mutual_info_classif(x[:, [j]], codes[:, i], discrete_features=False, n_neighbors=10)[0] for j in range(3)]
            for i in range(2)
        ]
    )
    np.testing.assert_allclose(ours, expected, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_squared_hinge_newton_matches_linear_svc(n_classes: int) -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, n_classes, 600)
    x = labels + rng.normal(scale=1.5, size=600)
    problems = _one_vs_rest(labels, 0.01)
    slope, intercept = _fit_squared_hinge_1d(x, problems.positive, problems.c_pos, problems.c_neg)
    svc = LinearSVC(C=0.01, class_weight="balanced", dual=False, tol=1e-12, max_iter=100000)
    svc.fit(x[:, None], labels)
    np.testing.assert_allclose(slope, svc.coef_[:, 0], atol=1e-7)
    np.testing.assert_allclose(intercept, svc.intercept_, atol=1e-7)


def test_macro_auc_matches_sklearn() -> None:
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 4, 300)
    proba = rng.dirichlet(np.ones(4), size=300)
    proba[:50] = np.round(proba[:50], 1)  # ties
    classes = np.arange(4)
    expected = roc_auc_score(label_binarize(labels, classes=classes), proba, average="macro")
    assert _macro_auc(labels, classes, proba) == pytest.approx(expected, abs=1e-12)


def test_explicitness_of_identity_is_high(identity: tuple[np.ndarray, np.ndarray]) -> None:
    z, y = identity
    result = compute_explicitness(z[:1500], y[:1500], z[1500:], y[1500:])
    assert result.train >= 0.9 and result.test >= 0.9


# --- FactorVAE and BetaVAE through a generative process ---


class FactorsAsImages:
    """A fake dataset whose 'images' are the factor values themselves."""

    def __init__(self, factor_sizes: tuple[int, ...] = (10,) * 10) -> None:
        self.factor_sizes = factor_sizes

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, size, n) for size in self.factor_sizes], axis=1)

    def render(self, factors: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(factors, dtype=torch.float32).reshape(len(factors), -1, 1, 1)


def identity_representation(images: torch.Tensor) -> torch.Tensor:
    return images.flatten(1)


def zero_representation(images: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(images.flatten(1))


SMALL = {"num_train": 2000, "num_eval": 1000}


def test_factor_vae_sanity() -> None:
    data = FactorsAsImages()
    good = compute_factor_vae(identity_representation, data, num_variance_estimate=2000, **SMALL)
    assert good.train_accuracy >= 0.9 and good.eval_accuracy >= 0.9
    assert good.num_active_dims == 10
    bad = compute_factor_vae(zero_representation, data, num_variance_estimate=2000, **SMALL)
    assert (bad.train_accuracy, bad.eval_accuracy, bad.num_active_dims) == (0.0, 0.0, 0)


def test_factor_vae_reference_bug_and_corrected_variant() -> None:
    """With a collapsed latent in front, the reference records the argmin
    among active latents as if it indexed all latents: every vote lands one
    latent to the left of the latent that earned it."""
    data = FactorsAsImages((10,) * 4)

    def collapsed_first(images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1)
        return torch.cat([torch.zeros(len(flat), 1), flat], dim=1)

    kwargs = {"num_variance_estimate": 1000, "num_train": 400, "num_eval": 200, "seed": 1}
    buggy = compute_factor_vae(collapsed_first, data, **kwargs)
    fixed = compute_factor_vae_corrected(collapsed_first, data, **kwargs)
    assert buggy.num_active_dims == fixed.num_active_dims == 4
    np.testing.assert_array_equal(buggy.train_votes[:, :4], np.diag(np.diag(buggy.train_votes[:, :4])))
    np.testing.assert_array_equal(buggy.train_votes[:, :4], fixed.train_votes[:, 1:])
    assert buggy.train_votes[:, 4].sum() == 0 and fixed.train_votes[:, 0].sum() == 0
    assert buggy.eval_accuracy == fixed.eval_accuracy == 1.0


def test_beta_vae_sanity() -> None:
    data = FactorsAsImages()
    good = compute_beta_vae(identity_representation, data, **SMALL)
    assert good.train_accuracy >= 0.9 and good.eval_accuracy >= 0.9
    chance = compute_beta_vae(zero_representation, data, **SMALL)
    assert chance.eval_accuracy <= 0.2


def test_interventional_scores_are_seeded() -> None:
    data = FactorsAsImages((3, 4, 5))

    def noisy(images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1)
        return flat + 0.5 * torch.sin(7.0 * flat.sum(dim=1, keepdim=True))

    runs = [compute_beta_vae(noisy, data, seed=4, num_train=300, num_eval=200) for _ in range(2)]
    assert runs[0] == runs[1]
    kwargs = {"seed": 4, "num_train": 300, "num_eval": 200, "num_variance_estimate": 500}
    votes = [compute_factor_vae(noisy, data, **kwargs).train_votes for _ in range(2)]
    np.testing.assert_array_equal(votes[0], votes[1])
