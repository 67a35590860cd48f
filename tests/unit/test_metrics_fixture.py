"""The metrics reproduce the reference implementations on the public fixture.

Reference values: disentanglement_lib @86a644d and latent_quantization @9a420a3
(tests/fixtures/metrics-public.expected.json, the `ref` entries); tolerances
from the fixture README.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from latentatlas.metrics import (
    compute_dci,
    compute_dci_fast,
    compute_explicitness,
    compute_infomec,
    compute_mig,
    compute_modularity,
    compute_sap,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

TOL_EXACT = 1e-6  # mig, sap_continuous, modularity, continuous infom / infoc
TOL_PLUG_IN = 1e-8  # quantised infom / infoc
TOL_EXPLICITNESS = 1e-4
TOL_SAP = 1e-3
TOL_INFOE = 2e-3
TOL_DCI = 5e-3
TOL_DCI_FAST = 2e-2


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((FIXTURES / "metrics-public.expected.json").read_text())


@pytest.fixture(scope="module")
def split() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "metrics-public.npz") as data:
        n = int(data["train_rows"])
        z, zq, y = data["z"], data["z_quantized"], data["y"]
        return {
            "z_train": z[:n],
            "z_test": z[n:],
            "zq_train": zq[:n],
            "y_train": y[:n],
            "y_test": y[n:],
        }


def _ref(expected: dict, *keys: str) -> float:
    node = expected
    for key in keys:
        node = node[key]
    return node["ref"]


def test_fixture_copy_is_intact(expected: dict) -> None:
    with np.load(FIXTURES / "metrics-public.npz") as data:
        assert int(data["y"].sum()) == expected["checksums"]["y_sum"]
        assert data["z"].sum() == pytest.approx(expected["checksums"]["z_sum"], rel=1e-12)
        assert data["z_quantized"].sum() == pytest.approx(expected["checksums"]["zq_sum"], rel=1e-12)


def test_mig(split: dict, expected: dict) -> None:
    result = compute_mig(split["z_train"], split["y_train"])
    assert result.mig == pytest.approx(_ref(expected, "mig"), abs=TOL_EXACT)
    assert result.mutual_info.shape == (10, 5)


def test_sap_discrete(split: dict, expected: dict) -> None:
    result = compute_sap(split["z_train"], split["y_train"], split["z_test"], split["y_test"])
    assert result.sap == pytest.approx(_ref(expected, "sap"), abs=TOL_SAP)


def test_sap_continuous(split: dict, expected: dict) -> None:
    result = compute_sap(split["z_train"], split["y_train"], split["z_test"], split["y_test"], continuous_factors=True)
    assert result.sap == pytest.approx(_ref(expected, "sap_continuous"), abs=TOL_EXACT)


def test_modularity(split: dict, expected: dict) -> None:
    result = compute_modularity(split["z_train"], split["y_train"])
    assert result.modularity == pytest.approx(_ref(expected, "modularity"), abs=TOL_EXACT)


def test_explicitness(split: dict, expected: dict) -> None:
    result = compute_explicitness(split["z_train"], split["y_train"], split["z_test"], split["y_test"])
    assert result.train == pytest.approx(_ref(expected, "explicitness_train"), abs=TOL_EXPLICITNESS)
    assert result.test == pytest.approx(_ref(expected, "explicitness_test"), abs=TOL_EXPLICITNESS)


@pytest.mark.parametrize(
    ("variant", "latents", "discrete", "tol_mc"),
    [("continuous", "z_train", False, TOL_EXACT), ("quantized", "zq_train", True, TOL_PLUG_IN)],
)
def test_infomec(split: dict, expected: dict, variant: str, latents: str, discrete: bool, tol_mc: float) -> None:
    result = compute_infomec(split[latents], split["y_train"], discrete_latents=discrete, seed=0)
    assert result.infom == pytest.approx(_ref(expected, "infomec", variant, "infom"), abs=tol_mc)
    assert result.infoc == pytest.approx(_ref(expected, "infomec", variant, "infoc"), abs=tol_mc)
    assert result.infoe == pytest.approx(_ref(expected, "infomec", variant, "infoe"), abs=TOL_INFOE)
    details = expected["infomec_details"][variant]
    np.testing.assert_array_equal(result.active_latents, np.array(details["active_latents"], dtype=bool))
    np.testing.assert_allclose(result.nmi, np.array(details["nmi_rows_factors_cols_latents"]), atol=tol_mc)


@pytest.fixture(scope="module")
def dci_fast(split: dict):
    return compute_dci_fast(split["z_train"], split["y_train"], split["z_test"], split["y_test"], seed=0)


@pytest.mark.parametrize("key", ["disentanglement", "completeness", "informativeness_train", "informativeness_test"])
def test_dci_fast_is_close_to_reference_dci(dci_fast, expected: dict, key: str) -> None:
    assert getattr(dci_fast, key) == pytest.approx(_ref(expected, "dci", key), abs=TOL_DCI_FAST)


@pytest.fixture(scope="module")
def dci_exact(split: dict):
    """The one slow computation (about a minute on 2 cores): exact DCI, fitted once."""
    return compute_dci(split["z_train"], split["y_train"], split["z_test"], split["y_test"], n_jobs=2, seed=0)


def test_dci(dci_exact, expected: dict) -> None:
    assert dci_exact.importance_matrix.shape == (10, 5)
    for key in ("disentanglement", "completeness", "informativeness_train", "informativeness_test"):
        assert getattr(dci_exact, key) == pytest.approx(_ref(expected, "dci", key), abs=TOL_DCI), key
