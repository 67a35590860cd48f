"""`zoo compare`'s tested statements on a zoo of fixed, seeded scores (no training): every variant
against its own per-seed null, each claim's difference and equivalence, one Holm family per dataset
fixed by the claims file (a missing variant's tests count at p = 1), and `--claims` re-registering
the claims file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.evaluation.zoo import compare_zoo
from latentatlas.store.zoo import ZooConfig

CONFIG = {
    "datasets": [{"name": "dsprites", "image_size": 16, "widths": [8, 8]}],
    "variants": [
        {"name": "ae", "kind": "ae"},
        {"name": "qlae", "kind": "qlae"},
        {"name": "qlae-wd0", "kind": "qlae", "train": {"weight_decay": 0.0}},
    ],
    "seeds": 4,
    "evaluation": {"samples": 300, "null_repeats": 2, "metrics": ["mig", "infomec"]},
    "claims": [
        {"better": "qlae", "than": "ae", "metrics": ["infomec.infom", "mig"]},
        {"better": "qlae", "than": "qlae-wd0", "metrics": ["infomec.infom"], "equivalence_bound": 0.02},
    ],
    "equivalence_bounds": {"mig": 0.03},
}
# score and null means per variant; seeds add noise around them
MEANS = {
    "ae": {"infomec.infom": (0.45, 0.60), "mig": (0.05, 0.001)},
    "qlae": {"infomec.infom": (0.70, 0.55), "mig": (0.08, 0.001), "infomec_codes.infom": (0.65, 0.15)},
    "qlae-wd0": {"infomec.infom": (0.70, 0.55), "mig": (0.08, 0.001), "infomec_codes.infom": (0.66, 0.15)},
}


def _zoo(tmp_path, skip: tuple[str, ...] = ()):
    """A zoo folder whose members' cards hold seeded protocol scores and nulls."""
    config = ZooConfig.model_validate(CONFIG)
    rng = np.random.default_rng(7)
    out = tmp_path / "zoo"
    members = []
    for member in config.members():
        members.append({**member, "status": "done"})
        if member["variant"] in skip:
            continue
        shared = rng.normal(0, 0.02)  # seed-matched members move together a little
        scores, nulls = {}, {}
        for name, (score, null) in MEANS[member["variant"]].items():
            scores[name] = float(score + shared + rng.normal(0, 0.01))
            nulls[name] = float(null + rng.normal(0, 0.01))
        folder = out / member["name"]
        folder.mkdir(parents=True)
        evaluation = {"scores": scores, "null": {"mean": nulls}, "flags": {}, "seconds": {"encode": 1.0}}
        card = {"steps": 6, "batch_size": 8, "wall_seconds": 1.0, "zoo": {**member, "evaluation": evaluation}}
        (folder / "card.json").write_text(json.dumps(card))
    (out / "zoo.json").write_text(
        json.dumps({"version": 1, "config": config.model_dump(mode="json"), "members": members})
    )
    return out


def _per_seed(out, variant: str, key: str, metric: str) -> np.ndarray:
    """A variant's per-seed scores (``key`` "scores") or null means ("null") of ``metric``."""
    evaluations = [
        json.loads((out / f"dsprites/{variant}-seed{s}/card.json").read_text())["zoo"]["evaluation"] for s in range(4)
    ]
    return np.array([e["scores"][metric] if key == "scores" else e["null"]["mean"][metric] for e in evaluations])


def test_every_statement_is_tested_in_one_family_per_dataset(tmp_path):
    out = _zoo(tmp_path)
    result = compare_zoo(out)
    family = result["families"]["dsprites"]
    # null tests: ae 2 scores, each QLAE 3 (its codes estimator's InfoM too); claims: 3 metrics x 2 tests
    assert family["counts"] == {"null": 8, "difference": 3, "equivalence": 3, "within": 0} and family["size"] == 14
    assert family["correction"] == "Holm" and family["claims_digest"] in family["id"]

    codes = next(t for t in result["null_tests"] if (t["variant"], t["metric"]) == ("qlae", "infomec_codes.infom"))
    scores, nulls = (
        _per_seed(out, "qlae", "scores", "infomec_codes.infom"),
        _per_seed(out, "qlae", "null", "infomec_codes.infom"),
    )
    assert codes["p"] == pytest.approx(stats.ttest_rel(scores, nulls, alternative="greater").pvalue, rel=1e-10)
    assert codes["null_mean"] == pytest.approx(nulls.mean()) and codes["diff"] == pytest.approx((scores - nulls).mean())
    assert not any(t["metric"].startswith("infomec_codes") for t in result["null_tests"] if t["variant"] == "ae")

    same = next(t for t in result["equivalence_tests"] if t["than"] == "qlae-wd0")
    d = _per_seed(out, "qlae", "scores", "infomec.infom") - _per_seed(out, "qlae-wd0", "scores", "infomec.infom")
    expected = max(
        stats.ttest_1samp(d, -0.02, alternative="greater").pvalue, stats.ttest_1samp(d, 0.02, alternative="less").pvalue
    )
    assert (same["bound"], same["bound_stated_in"]) == (0.02, "claim") and same["p"] == pytest.approx(expected)
    mig = next(t for t in result["equivalence_tests"] if t["metric"] == "mig")
    assert (mig["bound"], mig["bound_stated_in"]) == (0.03, "config")

    tests = [*result["null_tests"], *result["claims"], *result["equivalence_tests"]]
    p = sorted(t["p"] for t in tests)
    by_hand = np.minimum(1, np.maximum.accumulate([v * (len(p) - i) for i, v in enumerate(p)]))
    assert sorted(t["p_holm"] for t in tests) == pytest.approx(by_hand.tolist())
    for t in tests:
        assert (t["verdict"] != "not established") == (t["p_holm"] < 0.05)
        assert t["needs_t"] == (t["p_holm"] < 0.05 <= t["p_rank_holm"])
    # four seeds: no exact rank test reaches a Holm-adjusted 0.05 in a family of 14
    assert all(t["p_rank_holm"] >= 0.05 for t in tests)

    table = (out / "table.md").read_text()
    assert "## Tested statements" in table and family["id"] in table and "InfoM (codes)" in table
    written = json.loads((out / "table.json").read_text())
    assert {"null_tests", "equivalence_tests", "families", "claims"} <= set(written)


def test_a_missing_variant_keeps_the_family_and_counts_at_p_one(tmp_path):
    result = compare_zoo(_zoo(tmp_path, skip=("qlae-wd0",)))
    family = result["families"]["dsprites"]
    assert family["size"] == 14 and family["missing"] == 3 + 2
    missing = [t for t in (*result["null_tests"], *result["equivalence_tests"]) if t.get("missing")]
    assert missing and all(t["p"] == 1.0 and t["verdict"] == "not established" for t in missing)


def test_compare_registers_a_claims_file_for_the_same_members_only(tmp_path):
    out = _zoo(tmp_path)
    runner = CliRunner()
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({**CONFIG, "equivalence_bounds": {"mig": 0.01, "infomec.infom": 0.04}}))
    before = compare_zoo(out)["families"]["dsprites"]["id"]
    reply = runner.invoke(app, ["zoo", "compare", str(out), "--claims", str(claims)])
    assert reply.exit_code == 0, reply.output
    written = json.loads((out / "table.json").read_text())
    assert written["families"]["dsprites"]["id"] != before
    assert json.loads((out / "zoo.json").read_text())["config"]["equivalence_bounds"] == {
        "mig": 0.01,
        "infomec.infom": 0.04,
    }
    assert next(t for t in written["equivalence_tests"] if t["metric"] == "mig")["bound"] == 0.01

    claims.write_text(json.dumps({**CONFIG, "seeds": 5}))
    refused = runner.invoke(app, ["zoo", "compare", str(out), "--claims", str(claims)])
    assert refused.exit_code == 2 and "seeds" in refused.output and "Traceback" not in refused.output
    claims.write_text(json.dumps({**CONFIG, "equivalence_bounds": {"mig": -1}}))
    bad = runner.invoke(app, ["zoo", "compare", str(out), "--claims", str(claims)])
    assert bad.exit_code == 2 and "equivalence bounds must be > 0" in bad.output
