"""MED and top-k MED: the authors' values on the public fixture, hand-computed cases, the top-k
selection, and every input the metric refuses."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from latentatlas.metrics import MetricsInputError
from latentatlas.metrics.dci import specificity
from latentatlas.metrics.med import MEDResult, _top_k_dims, compute_med, med_by_leading_latents

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCORES = ("disentanglement", "completeness")


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((FIXTURES / "med-public.expected.json").read_text())


@pytest.fixture(scope="module")
def fixture_result(expected: dict) -> MEDResult:
    with np.load(FIXTURES / expected["fixture"]) as data:
        n, z, y = int(data["train_rows"]), data["z"], data["y"]
    return compute_med(z[:n], y[:n], z[n:], y[n:], topk=(1, 2))


# --- the authors' med.py on the public fixture ---


@pytest.mark.parametrize("key", SCORES)
def test_med_matches_the_authors_code(fixture_result: MEDResult, expected: dict, key: str) -> None:
    assert fixture_result.as_dict()[key] == pytest.approx(expected[key], abs=expected["tolerance"][key])


@pytest.mark.parametrize("key", ["informativeness_train", "informativeness_test"])
def test_informativeness_matches_the_authors_code(fixture_result: MEDResult, expected: dict, key: str) -> None:
    assert fixture_result.as_dict()[key] == pytest.approx(expected[key], abs=expected["tolerance"]["informativeness"])


def test_importance_matrix_matches_the_authors_code(fixture_result: MEDResult, expected: dict) -> None:
    np.testing.assert_allclose(fixture_result.importance_matrix, expected["importance_matrix"], atol=1e-12)


@pytest.mark.parametrize("top", ["top1", "top2"])
def test_top_k_med_matches_the_authors_code(fixture_result: MEDResult, expected: dict, top: str) -> None:
    ours = fixture_result.as_dict()[top]
    assert ours["dims"] == expected[top]["dims"]
    for key in SCORES:
        assert ours[key] == pytest.approx(expected[top][key], abs=expected["tolerance"][key])


# --- hand-computed cases ---


def _factorial_factors(cards: tuple[int, ...], repeats: int = 4) -> np.ndarray:
    """Every combination of factor values, ``repeats`` times: the factors are exactly independent
    in the sample, so the plug-in MI between a copy of one factor and any other is exactly 0."""
    grid = np.array(list(itertools.product(*(range(card) for card in cards))))
    return np.tile(grid, (repeats, 1))


def test_perfectly_disentangled_latents_score_one() -> None:
    y = _factorial_factors((3, 4, 5))
    result = compute_med(y.astype(float), y, y.astype(float), y, topk=(1,))
    np.testing.assert_allclose(result.importance_matrix, np.eye(3), atol=1e-12)
    assert result.disentanglement == pytest.approx(1.0, abs=1e-8)
    assert result.completeness == pytest.approx(1.0, abs=1e-8)
    assert result.top[0].dims == (0, 1, 2)
    assert result.informativeness_train > 0.99
    assert result.informativeness_test > 0.99


def test_a_duplicated_latent_halves_completeness() -> None:
    """Each factor split evenly over two latents: 1 - H_4(1/2, 1/2, 0, 0) = 1 - log 2 / log 4 = 1/2."""
    y = _factorial_factors((4, 5))
    z = y[:, [0, 0, 1, 1]].astype(float)
    result = compute_med(z, y, z, y, topk=(1, 2))
    np.testing.assert_allclose(result.importance_matrix, [[0.5, 0], [0.5, 0], [0, 0.5], [0, 0.5]], atol=1e-12)
    assert result.completeness == pytest.approx(0.5, abs=1e-8)
    assert result.disentanglement == pytest.approx(1.0, abs=1e-8)
    top1, top2 = result.top
    assert top1.dims == (0, 2)  # ties: the lower index is kept
    assert top1.completeness == pytest.approx(1.0, abs=1e-8)
    assert top2.dims == (0, 1, 2, 3)
    assert top2.completeness == pytest.approx(result.completeness, abs=1e-12)


def test_an_entangled_latent_scores_as_the_formula_says() -> None:
    """Latent 0 is factor 0; latent 1 codes both factors (3 y0 + y1), so m = log 3 [[1, 0], [1, 1]]
    and R = [[1/2, 0], [1/2, 1]]: D = 1/4 * 1 + 3/4 * (1 - H_2(1/3, 2/3)), C = 1/2 * 0 + 1/2 * 1."""
    y = _factorial_factors((3, 3))
    z = np.column_stack([y[:, 0], 3 * y[:, 0] + y[:, 1]]).astype(float)
    result = compute_med(z, y, z, y)
    np.testing.assert_allclose(result.importance_matrix, [[0.5, 0.0], [0.5, 1.0]], atol=1e-12)
    split = 1.0 + (np.log(1 / 3) / 3 + 2 * np.log(2 / 3) / 3) / np.log(2)
    assert result.disentanglement == pytest.approx(0.25 * 1.0 + 0.75 * split, abs=1e-8)
    assert result.completeness == pytest.approx(0.5 * 0.0 + 0.5 * 1.0, abs=1e-8)


# --- top-k selection ---


def _greedy_top_k(importance: np.ndarray, k: int) -> list[int]:
    """The selection as the fixture README words it: a pass over latents in descending per-latent
    disentanglement, each offered to its largest-importance factor, which keeps it while it holds
    fewer than k."""
    owner = np.argmax(importance, axis=1)
    kept: dict[int, list[int]] = {factor: [] for factor in range(importance.shape[1])}
    for latent in np.argsort(-specificity(importance), kind="stable"):
        if len(kept[owner[latent]]) < k:
            kept[owner[latent]].append(int(latent))
    return sorted(latent for latents in kept.values() for latent in latents)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_keeps_each_factors_k_most_disentangled_latents(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    importance = rng.dirichlet(np.full(4, 0.3), size=40)
    importance[7] = importance[3]  # an exact tie
    assert _top_k_dims(importance, k).tolist() == _greedy_top_k(importance, k)


def test_top_k_with_every_latent_kept_is_plain_med() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=(600, 3))
    z = y @ rng.normal(size=(3, 6)) + 0.3 * rng.normal(size=(600, 6))
    result = compute_med(z[:400], y[:400], z[400:], y[400:], topk=(6, 2, 6))
    assert [top.k for top in result.top] == [6, 2]  # distinct, in the order asked
    assert result.top[0].dims == tuple(range(6))
    assert result.top[0].disentanglement == pytest.approx(result.disentanglement, abs=1e-12)
    assert result.top[0].completeness == pytest.approx(result.completeness, abs=1e-12)
    assert set(result.as_dict()) == {
        "disentanglement",
        "completeness",
        "informativeness_train",
        "informativeness_test",
        "top6",
        "top2",
    }
    assert result.as_dict()["top2"] == {
        "disentanglement": result.top[1].disentanglement,
        "completeness": result.top[1].completeness,
        "dims": list(result.top[1].dims),
    }


def test_one_kept_latent_has_completeness_one_not_nan() -> None:
    """Latent 0 codes both factors (2 y0 + y1) and latent 1 is constant: every row's largest
    importance is factor 0's, so top-1 keeps one row, whose completeness (base 1) is 1."""
    y = _factorial_factors((2, 2))
    z = np.column_stack([2 * y[:, 0] + y[:, 1], np.zeros(len(y))]).astype(float)
    top1 = compute_med(z, y, z, y, topk=(1,)).top[0]
    assert top1.dims == (0,)
    assert top1.completeness == 1.0
    assert top1.disentanglement == pytest.approx(0.0, abs=1e-8)


def test_a_constant_latent_among_others_has_zero_importance() -> None:
    y = _factorial_factors((3, 4))
    z = np.column_stack([y.astype(float), np.full(len(y), 2.5)])
    result = compute_med(z, y, z, y, topk=(1,))
    np.testing.assert_array_equal(result.importance_matrix[2], [0.0, 0.0])
    assert all(np.isfinite(value) for value in (result.disentanglement, result.completeness))
    assert result.top[0].dims == (0, 1)


def test_a_factor_no_latent_informs_gets_a_zero_column_not_nan() -> None:
    y = _factorial_factors((3, 4))
    z = np.column_stack([y[:, 0], 2 * y[:, 0]]).astype(float)  # factor 1 is exactly independent of both
    result = compute_med(z, y, z, y, topk=(1,))
    np.testing.assert_allclose(result.importance_matrix, [[0.5, 0.0], [0.5, 0.0]], atol=1e-12)
    assert result.completeness == pytest.approx(0.0, abs=1e-8)  # factor 0: 1 - H_2(1/2, 1/2); factor 1: no weight
    assert result.disentanglement == pytest.approx(1.0, abs=1e-8)
    assert result.top[0].dims == (0,)


@pytest.mark.slow  # starts worker processes
def test_parallel_factor_fits_give_the_same_result() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=(300, 2))
    z = y + 0.5 * rng.normal(size=(300, 2))
    one, two = (compute_med(z[:200], y[:200], z[200:], y[200:], n_jobs=n) for n in (1, 2))
    assert one.as_dict() == two.as_dict()


# --- bad input ---


def _good() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=(90, 2))
    z = y @ rng.normal(size=(2, 4)) + 0.1 * rng.normal(size=(90, 4))
    return {"z_train": z[:60], "y_train": y[:60], "z_test": z[60:], "y_test": y[60:]}


def _with(name: str, change) -> dict[str, np.ndarray]:
    arrays = _good()
    arrays[name] = change(arrays[name].copy())
    return arrays


def _set(index, value):
    def change(array: np.ndarray) -> np.ndarray:
        array[index] = value
        return array

    return change


@pytest.mark.parametrize(
    ("topk", "message"),
    [((0,), "1 <= k <= 4"), ((5,), "1 <= k <= 4"), ((-1,), "got -1"), ((True,), "got True"), ((1.5,), "got 1.5")],
    ids=["zero", "more-than-latents", "negative", "bool", "fraction"],
)
def test_bad_top_k_is_refused(topk: tuple, message: str) -> None:
    with pytest.raises(MetricsInputError, match=message):
        compute_med(**_good(), topk=topk)


@pytest.mark.parametrize("num_bins", [1, 0, 2.5, True])
def test_bad_bin_count_is_refused(num_bins: object) -> None:
    with pytest.raises(MetricsInputError, match="num_bins must be a whole number >= 2"):
        compute_med(**_good(), num_bins=num_bins)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (_with("z_train", _set((3, 1), np.nan)), r"z_train contains NaN or inf \(first at row 3, latent 1\)"),
        (_with("z_test", _set((0, 0), np.inf)), "z_test contains NaN or inf"),
        (_with("y_train", _set((slice(None), 1), 2)), "factor 1 takes a single value"),
        (_with("z_train", lambda z: np.ones_like(z)), "every latent is constant"),
        (_with("y_test", lambda y: y.astype(float)), "integer factor labels"),
        (_with("z_test", lambda z: z[:, :3]), "same columns"),
        (_with("y_train", lambda y: y[:-1]), "z_train has 60 rows but y_train has 59"),
        (_with("z_train", lambda z: z[:, 0]), "z_train must be a non-empty 2-D array"),
        (_with("z_train", lambda z: z.astype(complex)), "z_train must hold real numbers, got dtype complex128"),
    ],
    ids=["nan", "inf", "one-valued-factor", "constant-latents", "float-labels", "columns", "rows", "1-d", "complex"],
)
def test_bad_input_is_refused_with_a_clear_message(arrays: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(MetricsInputError, match=message):
        compute_med(**arrays)


def test_the_cli_prints_med_and_top_k_med_as_the_reference_gives_them():
    """`latentatlas metrics FILE --metrics med --med-topk 1,2 --json`: the contract, on the public fixture."""
    from typer.testing import CliRunner

    from latentatlas.cli import app

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    expected = json.loads((fixtures / "med-public.expected.json").read_text())
    args = ["metrics", str(fixtures / "metrics-public.npz"), "--metrics", "med", "--med-topk", "1,2", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    med = json.loads(result.stdout)["med"]
    for key in ("disentanglement", "completeness"):
        assert abs(med[key] - expected[key]) <= 1e-6
        for k in ("top1", "top2"):
            assert abs(med[k][key] - expected[k][key]) <= 1e-6 and med[k]["dims"] == expected[k]["dims"]
    for key in ("informativeness_train", "informativeness_test"):
        assert abs(med[key] - expected[key]) <= 2e-3
    for bad in ("0", "11", "x"):
        refused = CliRunner().invoke(app, [*args[:-2], bad])
        assert refused.exit_code == 2 and "Traceback" not in refused.output, refused.output


def test_cards_and_the_zoo_get_the_reported_top_k_unless_asked_otherwise() -> None:
    from latentatlas.metrics import compute_metrics
    from latentatlas.metrics.catalogue import metric
    from latentatlas.metrics.med import REPORTED_TOPK

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=(300, 2))
    z = np.concatenate([y + 0.1 * rng.normal(size=y.shape), rng.normal(size=(300, 3))], axis=1)
    reported = compute_metrics(z, y, 200, ["med"])["med"]
    assert [key for key in reported if key.startswith("top")] == [f"top{k}" for k in REPORTED_TOPK]
    assert "top1" not in compute_metrics(z, y, 200, ["med"], med_topk=())["med"]
    keys = {score.key for score in metric("med").scores}
    assert {f"med.top{k}.{s}" for k in REPORTED_TOPK for s in ("disentanglement", "completeness")} <= keys
    assert metric("med").zoo


def test_med_by_leading_latents_is_med_on_the_first_c_latents():
    """One MI matrix, cut at C: the same D and C as compute_med on z[:, :C] for every C."""
    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, size=(400, 3))
    z = np.concatenate([y + 0.2 * rng.standard_normal(y.shape), rng.standard_normal((400, 9))], axis=1)
    z = z[:, rng.permutation(12)]
    keeps = [2, 3, 5, 8, 12]
    d_scores, c_scores = med_by_leading_latents(z, y, keeps)
    for keep, d, c in zip(keeps, d_scores, c_scores):
        full = compute_med(z[:, :keep], y, z[:50, :keep], y[:50])
        assert (d, c) == (pytest.approx(full.disentanglement, abs=1e-12), pytest.approx(full.completeness, abs=1e-12))
    with pytest.raises(MetricsInputError, match=r"each C must be in 2\.\.12"):
        med_by_leading_latents(z, y, [1, 13])
