"""Matched nulls and ceilings: every null and ceiling beside a score is the one of the estimator and
latents behind that score. A code model's InfoMEC on its codes (the discrete plug-in estimator) is
drawn against its codes' shuffled-rows null and the ceiling of perfect codes, not the continuous
estimator's; the shipped cards whose InfoMEC was scored on the codes carry exactly that."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from latentatlas.evaluation.baselines import card_baselines, matched_to_card
from latentatlas.metrics import compute_metrics
from latentatlas.metrics.baselines import flatten_scores, perfect_codes, shuffled_null

MODELS = Path(__file__).resolve().parents[2] / "models"
INFOMEC = ("infomec.infom", "infomec.infoc", "infomec.infoe")


def _quantised(n: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factors on a small grid, code indices that mostly copy them (some rows re-drawn), and the
    codebook values of those codes with a little noise (the continuous latents)."""
    rng = np.random.default_rng(seed)
    y = np.stack([rng.integers(size, size=n) for size in (3, 5, 6)], axis=1)
    codes = y.copy()
    noisy = rng.random(y.shape) < 0.3
    codes[noisy] = rng.integers(6, size=noisy.sum())
    z = codes / 5.0 + 0.05 * rng.standard_normal(codes.shape)
    return y, codes, z


def _codes_null(codes: np.ndarray, y: np.ndarray, seed: int, repeats: int) -> dict[str, float]:
    """The discrete estimator's scores of the codes permuted against the factors, by hand."""
    return shuffled_null(
        lambda order: flatten_scores(compute_metrics(codes[order], y, metrics=["infomec_codes"], seed=seed)),
        len(y),
        repeats,
        seed + 1,
    ).mean


def test_a_codes_card_draws_infomec_against_the_codes_estimators_null_and_ceiling():
    y, codes, z = _quantised()
    matched = card_baselines(z, codes, y, seed=3, repeats=2, infomec_latents="codes")
    continuous = card_baselines(z, codes, y, seed=3, repeats=2)
    null = _codes_null(codes, y, seed=3, repeats=2)
    ceiling = flatten_scores(compute_metrics(perfect_codes(y), y, metrics=["infomec_codes"], seed=3))
    assert matched["infomec_latents"] == "codes" and continuous["infomec_latents"] == "values"
    for key in INFOMEC:
        codes_key = key.replace("infomec.", "infomec_codes.")
        assert matched["null_mean"][key] == matched["null_mean"][codes_key] == pytest.approx(null[codes_key])
        assert matched["ceiling"][key] == ceiling[codes_key]
        assert matched["null_sd"][key] == matched["null_sd"][codes_key]
        # a values card keeps the continuous estimator's null beside its continuous score
        assert continuous["null_mean"][codes_key] == matched["null_mean"][codes_key]
    assert continuous["null_mean"]["infomec.infom"] != matched["null_mean"]["infomec.infom"]
    # the rest of the baselines do not depend on which latents InfoMEC was scored on
    for name in ("mig", "modularity", "explicitness_test"):
        assert matched["null_mean"][name] == continuous["null_mean"][name]
        assert matched["ceiling"][name] == continuous["ceiling"][name]


def test_the_discrete_estimators_ceiling_sits_below_one_from_its_bias():
    """Perfect codes: NMI 1 on the diagonal, the plug-in estimator's positive bias off it, so
    InfoM stays below 1 (about 0.91 on dSprites' protocol samples) while InfoE reaches 1."""
    rng = np.random.default_rng(1)
    y = np.stack([rng.integers(size, size=600) for size in (8, 16, 16)], axis=1)
    values = flatten_scores(compute_metrics(perfect_codes(y), y, metrics=["infomec_codes"]))
    assert 0.6 < values["infomec_codes.infom"] < 0.99
    assert values["infomec_codes.infoe"] == pytest.approx(1.0, abs=1e-3)


def test_matching_only_renames_for_codes_cards():
    scores = {"infomec.infom": 0.6, "infomec_codes.infom": 0.15, "mig": 0.01}
    assert matched_to_card(scores, "values") == scores
    assert matched_to_card(scores, "codes") == {"infomec.infom": 0.15, "infomec_codes.infom": 0.15, "mig": 0.01}


@pytest.mark.parametrize("card_path", sorted(MODELS.glob("*/card.json")), ids=lambda p: p.parent.name)
def test_shipped_cards_show_the_null_of_the_estimator_behind_their_score(card_path):
    metrics = json.loads(card_path.read_text()).get("metrics", {})
    baselines = metrics.get("baselines")
    if not baselines:
        pytest.skip("no baselines on this card")
    assert baselines.get("infomec_latents", "values") == metrics["infomec_latents"]
    if metrics["infomec_latents"] == "codes":
        for key in INFOMEC:
            codes_key = key.replace("infomec.", "infomec_codes.")
            assert baselines["null_mean"][key] == baselines["null_mean"][codes_key]
            assert baselines["ceiling"][key] == baselines["ceiling"][codes_key]


def test_a_refresh_keeps_the_exact_dci_baselines_it_was_not_asked_to_recompute():
    from latentatlas.evaluation.card_refresh import _keep_on_request

    old = {
        "metrics": ["mig", "dci", "infomec"],
        "null_mean": {"mig": 0.1, "dci.disentanglement": 0.01, "dci_fast.disentanglement": 0.5, "infomec.infom": 0.6},
        "null_sd": {"mig": 0.0, "dci.disentanglement": 0.001, "dci_fast.disentanglement": 0.0, "infomec.infom": 0.1},
        "ceiling": {"mig": 0.9, "dci.disentanglement": 1.0, "dci_fast.disentanglement": 1.0, "infomec.infom": 0.99},
    }
    new = {
        "metrics": ["mig", "infomec"],
        "null_mean": {"mig": 0.2, "infomec.infom": 0.15},
        "null_sd": {"mig": 0.0, "infomec.infom": 0.01},
        "ceiling": {"mig": 0.9, "infomec.infom": 0.91},
    }
    kept = _keep_on_request(old, new)
    assert kept["metrics"] == ["mig", "infomec", "dci"]
    assert kept["null_mean"] == {"mig": 0.2, "infomec.infom": 0.15, "dci.disentanglement": 0.01}
    assert kept["ceiling"]["dci.disentanglement"] == 1.0 and "dci_fast.disentanglement" not in kept["ceiling"]
    assert _keep_on_request({}, new) == new
