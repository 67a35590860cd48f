"""Within-member zoo claims (one score of a variant's members above another of the same members):
the paired t-test against scipy, the claims' tests on a comparison's per-seed scores, their
markdown, and the config's check of the variant named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from latentatlas.evaluation import zoo_claims
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
    row = {"seeds": list(range(len(higher))), "scores": scores, "null_values": {}}
    return {"dsprites": {"variants": {"byol": row}, "ceiling": {}}}


def test_a_score_claim_is_tested_paired_over_the_variants_seeds_in_the_datasets_family():
    claim = {"variant": "byol", "higher": "med.top1.disentanglement", "lower": "med.disentanglement", "source": "Cao"}
    config = ZooConfig.model_validate(ZOO | {"score_claims": [claim], "null_tests": []})
    result = zoo_claims.tested_statements(config, _datasets(A, B), "zoo")
    (test,) = result["score_claims"]
    ref = stats.ttest_rel(A, B)
    assert test["p"] == pytest.approx(ref.pvalue)
    assert test["p_rank"] == pytest.approx(stats.wilcoxon(A - B, alternative="two-sided", method="exact").pvalue)
    assert test["diff"] == pytest.approx(float((A - B).mean()))
    assert (test["dataset"], test["variant"], test["seeds"]) == ("dsprites", "byol", [0, 1, 2, 3, 4])
    family = result["families"]["dsprites"]
    assert family["counts"]["within"] == 1 and family["size"] == 1
    assert test["p_holm"] == pytest.approx(ref.pvalue)  # alone in its family
    assert test["verdict"] == "holds"
    lines = zoo_claims.statements_markdown(result | {"test": zoo_claims.TESTS}, {})
    assert any("med.top1.disentanglement > med.disentanglement" in line and "holds" in line for line in lines)


def test_a_score_claim_whose_scores_are_missing_counts_at_p_1():
    claim = {"variant": "byol", "higher": "med.top2.completeness", "lower": "med.completeness"}
    config = ZooConfig.model_validate(ZOO | {"score_claims": [claim], "null_tests": []})
    (test,) = zoo_claims.tested_statements(config, _datasets(A, B), "zoo")["score_claims"]
    assert test["missing"] and test["p"] == 1.0 and test["verdict"] == "not established"


def test_score_claims_change_the_claims_digest_only_when_there_are_some():
    plain = ZooConfig.model_validate(ZOO)
    empty = ZooConfig.model_validate(ZOO | {"score_claims": []})
    claim = {"variant": "byol", "higher": "med.top1.disentanglement", "lower": "med.disentanglement"}
    assert plain.claims_digest() == empty.claims_digest()
    assert ZooConfig.model_validate(ZOO | {"score_claims": [claim]}).claims_digest() != plain.claims_digest()


def test_a_score_claim_on_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="score claim on simclr names an unknown variant"):
        ZooConfig.model_validate(ZOO | {"score_claims": [{"variant": "simclr", "higher": "a", "lower": "b"}]})
