"""compute_metrics / load_metrics_file / format_table: the JSON the CLI prints
and the messages it gives for unusable input files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from latentatlas.metrics import (
    DEFAULT_METRICS,
    MetricsInputError,
    compute_metrics,
    format_table,
    load_metrics_file,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Everything but the two gradient-boosting DCIs (test_metrics_fixture covers those).
QUICK = ["mig", "sap", "sap_continuous", "modularity", "explicitness", "infomec"]


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((FIXTURES / "metrics-public.expected.json").read_text())


@pytest.fixture(scope="module")
def fixture_result() -> dict:
    z, y, train_rows = load_metrics_file(FIXTURES / "metrics-public.npz")
    return compute_metrics(z, y, train_rows, metrics=QUICK)


def test_load_metrics_file_reads_the_fixture() -> None:
    z, y, train_rows = load_metrics_file(FIXTURES / "metrics-public.npz")
    assert (z.shape, y.shape, train_rows) == ((15000, 10), (15000, 5), 10000)
    assert z.dtype == np.float64 and y.dtype == np.int64


def test_compute_metrics_reproduces_the_reference(fixture_result: dict, expected: dict) -> None:
    assert list(fixture_result) == [
        "mig",
        "sap",
        "sap_continuous",
        "modularity",
        "explicitness_train",
        "explicitness_test",
        "infomec",
    ]
    assert fixture_result["mig"] == pytest.approx(expected["mig"]["ref"], abs=1e-6)
    assert fixture_result["sap"] == pytest.approx(expected["sap"]["ref"], abs=1e-3)
    assert fixture_result["sap_continuous"] == pytest.approx(expected["sap_continuous"]["ref"], abs=1e-6)
    assert fixture_result["modularity"] == pytest.approx(expected["modularity"]["ref"], abs=1e-6)
    for key in ("explicitness_train", "explicitness_test"):
        assert fixture_result[key] == pytest.approx(expected[key]["ref"], abs=1e-4)
    reference = expected["infomec"]["continuous"]
    assert set(fixture_result["infomec"]) == {"infom", "infoc", "infoe", "infoe_near_zero"}
    assert fixture_result["infomec"]["infom"] == pytest.approx(reference["infom"]["ref"], abs=1e-6)
    assert fixture_result["infomec"]["infoc"] == pytest.approx(reference["infoc"]["ref"], abs=1e-6)
    assert fixture_result["infomec"]["infoe"] == pytest.approx(reference["infoe"]["ref"], abs=2e-3)


def test_result_is_plain_json(fixture_result: dict) -> None:
    assert json.loads(json.dumps(fixture_result, allow_nan=False)) == fixture_result


def test_discrete_latents_select_the_plug_in_infomec(expected: dict) -> None:
    with np.load(FIXTURES / "metrics-public.npz") as data:
        zq, y, train_rows = data["z_quantized"], data["y"], int(data["train_rows"])
    result = compute_metrics(zq, y, train_rows, metrics=["infomec"], discrete_latents=True)
    reference = expected["infomec"]["quantized"]
    assert result["infomec"]["infom"] == pytest.approx(reference["infom"]["ref"], abs=1e-8)
    assert result["infomec"]["infoc"] == pytest.approx(reference["infoc"]["ref"], abs=1e-8)
    assert result["infomec"]["infoe"] == pytest.approx(reference["infoe"]["ref"], abs=2e-3)


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=(300, 2))
    z = np.column_stack([y[:, 0], y[:, 1], np.zeros(300)]) + 0.3 * rng.normal(size=(300, 3))
    return z, y


def test_default_metrics_and_keys(small: tuple[np.ndarray, np.ndarray]) -> None:
    assert "dci" not in DEFAULT_METRICS
    result = compute_metrics(*small)
    assert list(result) == [
        "mig",
        "dci_fast",
        "sap",
        "sap_continuous",
        "modularity",
        "explicitness_train",
        "explicitness_test",
        "infomec",
        "med",
    ]
    assert list(result["dci_fast"]) == [
        "disentanglement",
        "completeness",
        "informativeness_train",
        "informativeness_test",
    ]
    assert all(isinstance(v, float) for v in result["dci_fast"].values())


def test_with_matrices_adds_the_matrices_behind_the_scores(small: tuple[np.ndarray, np.ndarray]) -> None:
    from latentatlas.metrics import compute_dci, compute_infomec, compute_mig

    z, y = small
    result = compute_metrics(z, y, metrics=[*DEFAULT_METRICS, "dci"], with_matrices=True)
    matrices = result.pop("matrices")
    assert result == compute_metrics(z, y, metrics=[*DEFAULT_METRICS, "dci"])  # the scores are unchanged
    assert set(matrices) == {"mig_mutual_info", "dci_importance", "infomec_nmi", "infomec_active"}
    train = 200  # two thirds of 300
    assert matrices["mig_mutual_info"] == compute_mig(z[:train], y[:train]).mutual_info.tolist()  # (D, K)
    exact = compute_dci(z[:train], y[:train], z[train:], y[train:], n_jobs=1)
    assert matrices["dci_importance"] == exact.importance_matrix.tolist()  # exact DCI's, not dci_fast's
    infomec = compute_infomec(z[:train], y[:train])
    assert matrices["infomec_nmi"] == infomec.nmi.tolist()  # (K, D)
    assert matrices["infomec_active"] == [True, True, True]
    assert json.loads(json.dumps(matrices, allow_nan=False)) == matrices
    only_fast = compute_metrics(z, y, metrics=["dci_fast"], with_matrices=True)
    assert list(only_fast["matrices"]) == ["dci_importance"]
    assert "matrices" not in format_table(compute_metrics(z, y, metrics=["mig"], with_matrices=True))


def test_seeded_and_deterministic(small: tuple[np.ndarray, np.ndarray]) -> None:
    assert compute_metrics(*small, seed=3) == compute_metrics(*small, seed=3)


def test_a_single_metric_name(small: tuple[np.ndarray, np.ndarray]) -> None:
    assert list(compute_metrics(*small, metrics="mig")) == ["mig"]
    assert compute_metrics(*small, metrics=[]) == {}


def test_unknown_metric_is_rejected(small: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(MetricsInputError, match=r"unknown metric.*bogus"):
        compute_metrics(*small, metrics=["mig", "bogus"])


def test_format_table(fixture_result: dict) -> None:
    table = format_table(fixture_result)
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "value"]
    assert any(line.split() == ["mig", f"{fixture_result['mig']:.4f}"] for line in lines)
    assert any(line.startswith("infomec.infoc ") for line in lines)
    assert any(line.split() == ["infomec.infoe_near_zero", "False"] for line in lines)
    assert len(lines) == 2 + 6 + 4


def test_format_table_labels_dci_fast_as_an_estimate() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=(300, 2))
    table = format_table(compute_metrics(y + 0.1 * rng.standard_normal(y.shape), y, metrics=["dci_fast"]))
    names = [line.split("  ")[0] for line in table.splitlines()[2:]]
    assert names and all(name.startswith("dci_fast (estimate of DCI, HistGB).") for name in names)


# --- unusable input files ---


def _good_arrays(n: int = 30) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    y = np.stack([np.arange(n) % 3, np.arange(n) % 2], axis=1)
    return {"z": rng.normal(size=(n, 4)), "y": y}


def _write(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "latents.npz"
    np.savez(path, **arrays)
    return path


def _with(**changes):
    arrays = _good_arrays()
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def _z_with(row: int, col: int, value: float) -> np.ndarray:
    z = _good_arrays()["z"]
    z[row, col] = value
    return z


BAD_INPUTS = {
    "missing-z": (_with(z=None), "missing array.*z"),
    "missing-y": (_with(y=None), "missing array.*y"),
    "z-1d": (_with(z=np.zeros(30)), "z must be 2-D"),
    "y-1d": (_with(y=np.arange(30) % 3), "y must be 2-D"),
    "y-3d": (_with(y=np.zeros((30, 2, 1), dtype=int)), "y must be 2-D"),
    "row-mismatch": (_with(y=_good_arrays(31)["y"]), "30 rows but y has 31"),
    "one-latent": (_with(z=np.zeros((30, 1))), "at least 2 latent"),
    "one-factor": (_with(y=np.zeros((30, 1), dtype=int)), "at least 2 factors"),
    "z-nan": (_with(z=_z_with(4, 2, np.nan)), r"NaN or inf \(first at row 4, latent 2\)"),
    "z-inf": (_with(z=_z_with(0, 1, np.inf)), "NaN or inf"),
    "z-text": (_with(z=np.full((30, 4), "a")), "z must be numeric"),
    "y-fractional": (_with(y=_good_arrays()["y"] + 0.5), "non-integer"),
    "y-nan": (_with(y=np.full((30, 2), np.nan)), "y contains NaN"),
    "constant-factor": (_with(y=np.stack([np.arange(30) % 3, np.ones(30, int)], 1)), "factor 1 takes a single value"),
    "constant-on-train-rows": (
        _with(y=np.stack([np.arange(30) % 3, (np.arange(30) >= 25).astype(int)], 1)),
        "factor 1 takes a single value on the train rows",
    ),
    "train-rows-all": (_with(train_rows=np.array(30)), "train_rows must leave"),
    "train-rows-one": (_with(train_rows=np.array(1)), "train_rows must leave"),
    "train-rows-float": (_with(train_rows=np.array(10.0)), "train_rows must be a single integer"),
    "train-rows-vector": (_with(train_rows=np.array([10, 12])), "train_rows must be a single integer"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_load_metrics_file_rejects(tmp_path: Path, case: str) -> None:
    arrays, message = BAD_INPUTS[case]
    with pytest.raises(MetricsInputError, match=message):
        load_metrics_file(_write(tmp_path, **arrays))


def test_load_metrics_file_rejects_non_archives(tmp_path: Path) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    with pytest.raises(MetricsInputError, match="cannot read"):
        load_metrics_file(text)
    single = tmp_path / "z.npy"
    np.save(single, np.zeros((3, 2)))
    with pytest.raises(MetricsInputError, match="got a single array"):
        load_metrics_file(single)
    with pytest.raises(MetricsInputError, match="cannot read"):
        load_metrics_file(tmp_path / "absent.npz")


def test_load_metrics_file_defaults_and_conversions(tmp_path: Path) -> None:
    arrays = _good_arrays()
    path = _write(tmp_path, z=arrays["z"].astype(np.float32), y=arrays["y"].astype(float))
    z, y, train_rows = load_metrics_file(path)
    assert train_rows == 20  # ceil(2/3 of 30)
    assert z.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(y, arrays["y"])


def test_compute_metrics_validates_arrays() -> None:
    arrays = _good_arrays()
    with pytest.raises(MetricsInputError, match="NaN or inf"):
        compute_metrics(_z_with(3, 3, np.nan), arrays["y"], metrics=["mig"])
    with pytest.raises(MetricsInputError, match="train_rows must leave"):
        compute_metrics(arrays["z"], arrays["y"], train_rows=29 + 1, metrics=["mig"])
