"""The zoo's quantisation controls and metric curves: quantile snapping by hand (ties, constant
dimensions, values outside the training range), the code families' pre-quantisation output,
and a tiny zoo with snapshots end to end (the stored keys, the curve, the per-step claims)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from latentatlas.evaluation.snapping import quantile_snap
from latentatlas.evaluation.zoo import compare_zoo, evaluate_zoo
from latentatlas.families import build_model, model_config
from latentatlas.families.base import DiscreteCodes, capable
from latentatlas.metrics.stats import welch
from latentatlas.nets.config import NetConfig
from latentatlas.store.zoo import ZooConfig
from latentatlas.train.zoo import run_zoo

REPO = Path(__file__).resolve().parents[2]

# --- snapping by hand ---------------------------------------------------------------------


def test_equally_spaced_values_snap_to_ten_equal_levels_at_their_means():
    # t = 0..19: edges t_(ceil(j * 19 / 10)) = 2, 4, ..., 18, so each level holds a pair {2b, 2b + 1}.
    train = np.arange(20.0)[:, None]
    snapped, levels = quantile_snap(train, train)
    np.testing.assert_array_equal(levels[:, 0], np.arange(20) // 2)
    np.testing.assert_array_equal(snapped[:, 0], 2 * (np.arange(20) // 2) + 0.5)


def test_ties_share_a_level_and_leave_the_levels_below_empty():
    # 12 zeros then 1..8: sorted positions 2, 4, ..., 18 give edges 0, 0, 0, 0, 0, 1, 3, 5, 7.
    # 0 -> level 5 (five edges <= 0), 1 and 2 -> 6, 3 and 4 -> 7, 5 and 6 -> 8, 7 and 8 -> 9.
    train = np.concatenate([np.zeros(12), np.arange(1.0, 9.0)])[:, None]
    values = np.array([[0.0], [2.0], [2.5], [4.0], [7.0], [-3.0], [100.0]])
    snapped, levels = quantile_snap(train, values)
    np.testing.assert_array_equal(levels[:, 0], [5, 6, 6, 7, 9, 5, 9])  # -3 and 100 clip to 0 and 8
    np.testing.assert_array_equal(snapped[:, 0], [0.0, 1.5, 1.5, 3.5, 7.5, 0.0, 7.5])


def test_a_constant_dimension_snaps_to_its_constant_and_dimensions_are_independent():
    train = np.stack([np.full(30, 4.0), np.arange(30.0)], axis=1)
    values = np.array([[4.0, 0.0], [7.0, 29.0], [-1.0, 14.0]])
    snapped, levels = quantile_snap(train, values)
    np.testing.assert_array_equal(snapped[:, 0], [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(levels[:, 0], [9, 9, 9])  # every edge is 4: all nine are <= 4
    alone, _ = quantile_snap(train[:, 1:], values[:, 1:])
    np.testing.assert_array_equal(snapped[:, 1], alone[:, 0])


def test_snapping_is_monotone_and_keeps_at_most_ten_values():
    rng = np.random.default_rng(0)
    train, values = rng.standard_normal((400, 3)), rng.standard_normal((200, 3)) * 2
    snapped, levels = quantile_snap(train, values)
    for d in range(3):
        order = np.argsort(values[:, d])
        assert np.all(np.diff(snapped[order, d]) >= 0) and np.all(np.diff(levels[order, d]) >= 0)
        assert len(np.unique(snapped[:, d])) <= 10
        assert train[:, d].min() <= snapped[:, d].min() and snapped[:, d].max() <= train[:, d].max()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="one D"):
        quantile_snap(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="levels"):
        quantile_snap(np.zeros((5, 2)), np.zeros((5, 2)), levels=1)


# --- the codes capability's pre-quantisation output -----------------------------------------


@pytest.mark.parametrize("kind", ["qlae", "qlinfogan"])
def test_code_families_encode_by_snapping_their_prequantised_output(kind):
    torch.manual_seed(0)
    model = build_model(model_config(kind=kind, latent_dim=4, net=NetConfig(image_size=16, channels=1, widths=(8, 8))))
    assert model.capabilities.codes
    images = torch.rand(5, 1, 16, 16)
    codes = capable(model, DiscreteCodes)
    continuous = codes.prequantised(images)
    encoding = model.encode(images)
    assert continuous.shape == encoding.latent.shape == (5, 4)
    nearest = (continuous[..., None] - codes.codebooks()[None]).abs().argmin(-1)
    assert torch.equal(encoding.codes, nearest)


def test_members_without_weights_are_skipped_and_said(tmp_path):
    """The shipped zoo keeps two members' weights: the others are skipped, even with force,
    their cards untouched."""
    shipped = REPO / "models" / "zoo"
    manifest = json.loads((shipped / "zoo.json").read_text())
    manifest["members"] = [m for m in manifest["members"] if m["name"].startswith("dsprites/ae-seed")]
    manifest["config"]["datasets"] = [d for d in manifest["config"]["datasets"] if d["name"] == "dsprites"]
    (tmp_path / "zoo.json").write_text(json.dumps(manifest))
    shutil.copytree(shipped / "dsprites", tmp_path / "dsprites", ignore=shutil.ignore_patterns("*.png", "qlae*"))
    before = (tmp_path / "dsprites" / "ae-seed0" / "card.json").read_text()
    said = []
    result = evaluate_zoo(tmp_path, force=True, log=said.append)
    assert result["scored"] == [] and result["skipped"] == [m["name"] for m in manifest["members"]]
    assert "dsprites/ae-seed0: no weights here, not scored" in said
    assert (tmp_path / "dsprites" / "ae-seed0" / "card.json").read_text() == before


# --- a tiny zoo with snapshots, end to end ------------------------------------------------------

TINY = {
    "datasets": [{"name": "dsprites", "image_size": 16, "widths": [8, 8]}],
    "variants": [{"name": "ae", "kind": "ae"}, {"name": "qlae", "kind": "qlae"}],
    "seeds": 2,
    "train": {
        "steps": 6,
        "batch_size": 8,
        "threads": 1,
        "device": "cpu",
        "checkpoint_every": 2,
        "log_every": 2,
        "snapshot_every": 2,
    },
    "evaluation": {"samples": 300, "null_repeats": 2, "metrics": ["mig", "infomec"]},
    "claims": [{"better": "qlae", "than": "ae", "metrics": ["infomec.infom", "mig"]}],
}


def _card(out, member):
    return json.loads((out / "dsprites" / member / "card.json").read_text())


@pytest.mark.slow  # trains, scores (with controls and 2 snapshots per member) and compares a 4-member zoo
def test_a_tiny_zoo_gets_controls_and_metric_curves(tmp_path):
    out = tmp_path / "zoo"
    run_zoo(ZooConfig.model_validate(TINY), out, workers=1, progress=False)
    assert sorted(p.name for p in (out / "dsprites" / "ae-seed0" / "snapshots").iterdir()) == [
        "step-2.safetensors",
        "step-4.safetensors",
    ]
    result = evaluate_zoo(out, log=lambda line: None)
    assert len(result["scored"]) == 4

    ae, qlae = _card(out, "ae-seed0")["zoo"]["evaluation"], _card(out, "qlae-seed1")["zoo"]["evaluation"]
    # A continuous member: snapped, scored like a code model (k-NN on values, plug-in on level indices).
    assert "prequantised" not in ae and "snapped" in ae
    assert set(ae["snapped"]["scores"]) == set(ae["scores"]) | {
        "infomec_codes.infom",
        "infomec_codes.infoc",
        "infomec_codes.infoe",
    }
    assert set(ae["snapped"]["null"]["mean"]) == set(ae["snapped"]["scores"]) == set(ae["snapped"]["null"]["sd"])
    assert "quantile levels" in ae["snapped"]["rule"]
    # A code member: its pre-quantisation output, scored as continuous latents (no codes estimator).
    assert "snapped" not in qlae and set(qlae["prequantised"]["scores"]) == set(ae["scores"])
    assert set(qlae["prequantised"]["null"]["mean"]) == set(ae["scores"])
    assert qlae["prequantised"]["scores"] != {k: qlae["scores"][k] for k in ae["scores"]}

    curve = _card(out, "qlae-seed1")["metric_curve"]
    assert [point["step"] for point in curve] == [2, 4, 6]
    assert curve[-1]["values"] == qlae["scores"] and set(curve[0]["values"]) == set(qlae["scores"])

    # Up to date: nothing redone. A card missing its control gets only that, the same again.
    assert evaluate_zoo(out, log=lambda line: None)["scored"] == []
    card_path = out / "dsprites" / "ae-seed0" / "card.json"
    card = json.loads(card_path.read_text())
    snapped = card["zoo"]["evaluation"].pop("snapped")
    card_path.write_text(json.dumps(card))
    assert evaluate_zoo(out, log=lambda line: None)["scored"] == ["dsprites/ae-seed0"]
    again = _card(out, "ae-seed0")
    assert again["zoo"]["evaluation"]["snapped"]["scores"] == snapped["scores"]
    assert again["zoo"]["evaluation"]["seconds"] == card["zoo"]["evaluation"]["seconds"]  # scores not redone

    table = compare_zoo(out)
    by_claim = {(c["metric"]): c for c in table["curves"]["claims"]}
    assert set(by_claim) == {"infomec.infom", "mig"}
    row = by_claim["infomec.infom"]["steps"][1]
    better = [_card(out, f"qlae-seed{s}")["metric_curve"][1]["values"]["infomec.infom"] for s in (0, 1)]
    than = [_card(out, f"ae-seed{s}")["metric_curve"][1]["values"]["infomec.infom"] for s in (0, 1)]
    test = welch(np.array(better), np.array(than))
    assert row["step"] == 4 and row["diff"] == pytest.approx(np.mean(better) - np.mean(than))
    assert row["ci95"] == [pytest.approx(test.low), pytest.approx(test.high)]
    assert row["better"]["n"] == row["than"]["n"] == 2
    assert json.loads((out / "table.json").read_text())["curves"]["claims"][0]["steps"][0]["step"] == 2
    assert "Claims along training" in (out / "table.md").read_text()

    # Like with like: QLAE's z_q against the AE snapped, QLAE's z_c against the AE as it is.
    like = {c["metric"]: c for c in table["like_with_like"]["claims"]}
    evaluations = {(v, s): _card(out, f"{v}-seed{s}")["zoo"]["evaluation"] for v in ("qlae", "ae") for s in (0, 1)}
    for form, qlae_key, ae_key in (("discrete", None, "snapped"), ("continuous", "prequantised", None)):
        a = [
            (evaluations["qlae", s][qlae_key] if qlae_key else evaluations["qlae", s])["scores"]["mig"] for s in (0, 1)
        ]
        b = [(evaluations["ae", s][ae_key] if ae_key else evaluations["ae", s])["scores"]["mig"] for s in (0, 1)]
        assert like["mig"][form]["diff"] == pytest.approx(np.mean(a) - np.mean(b)), form
        assert like["mig"][form]["p"] == pytest.approx(welch(np.array(a), np.array(b)).p, nan_ok=True)
    controls = table["like_with_like"]["controls"]["dsprites"]
    assert (controls["ae"]["kind"], controls["qlae"]["kind"]) == ("snapped", "prequantised")
    snapped_infom = [evaluations["ae", s]["snapped"]["scores"]["infomec.infom"] for s in (0, 1)]
    assert controls["ae"]["scores"]["infomec.infom"]["mean"] == pytest.approx(np.mean(snapped_infom))
    assert "like with like" in (out / "table.md").read_text()

    # Snapshots are not shipped: without them a card keeps its curve and nothing is redone.
    shutil.rmtree(out / "dsprites" / "qlae-seed1" / "snapshots")
    assert evaluate_zoo(out, log=lambda line: None)["scored"] == []
    assert _card(out, "qlae-seed1")["metric_curve"] == curve
