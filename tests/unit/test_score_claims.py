"""Within-member zoo claims (one score of a variant's members above another of the same members):
the paired t-test against scipy, the claims' tests on a comparison's per-seed scores, their
markdown, and the config's check of the variant named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from latentatlas.evaluation.score_claims import score_claim_tests, score_claims_markdown
from latentatlas.metrics.stats import paired
from latentatlas.store.zoo import ZooConfig

A = np.array([0.81, 0.77, 0.90, 0.85, 0.79])
B = np.array([0.41, 0.52, 0.47, 0.39, 0.50])
ZOO = {
    "datasets": [{"name": "dsprites"}],
    "variants": [{"name": "byol", "kind": "byol"}, {"name": "ae", "kind": "ae"}],
    "seeds": 5,
}


def test_paired_matches_scipy():
    d = paired(A, B)
    ref = stats.ttest_rel(A, B)
    assert d.t == pytest.approx(ref.statistic, abs=1e-12)
    assert d.p == pytest.approx(ref.pvalue, abs=1e-12)
    assert d.df == len(A) - 1
    interval = ref.confidence_interval(0.95)
    assert (d.low, d.high) == (pytest.approx(interval.low, abs=1e-12), pytest.approx(interval.high, abs=1e-12))
    with pytest.raises(ValueError, match="at least 2 runs"):
        paired(A[:1], B[:1])
    with pytest.raises(ValueError, match="same runs"):
        paired(A, B[:3])


def test_equal_differences_give_a_zero_or_infinite_t():
    assert paired(A, A).p == 1.0
    exact = np.array([0.5, 1.0, 1.5])  # binary fractions: every difference exactly 0.25
    shifted = paired(exact + 0.25, exact)
    assert (shifted.diff, shifted.t, shifted.p) == (pytest.approx(0.25), np.inf, 0.0)


def _datasets(higher: np.ndarray, lower: np.ndarray) -> dict:
    def summary(values):
        return {"n": len(values), "values": [float(v) for v in values]}

    scores = {"med.top1.disentanglement": summary(higher), "med.disentanglement": summary(lower)}
    return {"dsprites": {"variants": {"byol": {"scores": scores}}, "ceiling": {}}}


def test_a_score_claim_is_tested_paired_over_the_variants_seeds():
    claim = {"variant": "byol", "higher": "med.top1.disentanglement", "lower": "med.disentanglement", "source": "Cao"}
    config = ZooConfig.model_validate(ZOO | {"score_claims": [claim]})
    (test,) = score_claim_tests(config, _datasets(A, B))
    ref = stats.ttest_rel(A, B)
    assert test["p"] == pytest.approx(ref.pvalue)
    assert test["diff"] == pytest.approx(float((A - B).mean()))
    assert (test["dataset"], test["variant"], test["kind"]) == ("dsprites", "byol", "within members")
    lines = score_claims_markdown([test | {"p_holm": test["p"], "verdict": "holds"}])
    assert any("med.top1.disentanglement > med.disentanglement" in line and "holds" in line for line in lines)
    assert score_claims_markdown([]) == []


def test_a_score_claim_whose_scores_are_missing_is_left_out():
    claim = {"variant": "byol", "higher": "med.top2.completeness", "lower": "med.completeness"}
    config = ZooConfig.model_validate(ZOO | {"score_claims": [claim]})
    assert score_claim_tests(config, _datasets(A, B)) == []


def test_a_score_claim_on_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="score claim on simclr names an unknown variant"):
        ZooConfig.model_validate(ZOO | {"score_claims": [{"variant": "simclr", "higher": "a", "lower": "b"}]})
