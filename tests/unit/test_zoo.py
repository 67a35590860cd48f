"""The model zoo: config, runner (resume after a kill), one-protocol evaluation with nulls and
ceilings, the comparison's statistics against scipy, and the CLI end to end on a tiny zoo."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file
from scipy import stats
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.baselines import (
    CARD_METRICS,
    Interventions,
    card_baselines,
    interventional_baselines,
    protocol_scores,
)
from latentatlas.evaluation.zoo import dataset_ceiling
from latentatlas.metrics import compute_metrics
from latentatlas.metrics.baselines import flatten_scores, perfect_latents, shuffled_null
from latentatlas.metrics.stats import holm, summarize, welch
from latentatlas.store.zoo import ZooConfig, ZooError, ZooProtocol
from latentatlas.train.zoo import run_zoo

TINY = {
    "datasets": [{"name": "dsprites", "image_size": 16, "widths": [8, 8]}],
    "variants": [{"name": "ae", "kind": "ae"}, {"name": "qlae", "kind": "qlae", "train": {"weight_decay": 0.0}}],
    "seeds": 2,
    "train": {"steps": 6, "batch_size": 8, "threads": 1, "device": "cpu", "checkpoint_every": 2, "log_every": 2},
    "evaluation": {"samples": 300, "null_repeats": 2, "metrics": ["mig", "modularity", "infomec"]},
    "claims": [{"better": "qlae", "than": "ae", "metrics": ["infomec.infom", "mig"]}],
}


# --- statistics against scipy, on fixed numbers ---------------------------------------

A = np.array([0.41, 0.52, 0.38, 0.47, 0.60])
B = np.array([0.30, 0.44, 0.36, 0.29, 0.35])


def test_t_interval_matches_scipy():
    s = summarize(A)
    low, high = stats.t.interval(0.95, len(A) - 1, loc=A.mean(), scale=stats.sem(A))
    assert (s.n, s.mean, s.sd) == (5, pytest.approx(A.mean()), pytest.approx(A.std(ddof=1)))
    assert (s.low, s.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert np.isnan(summarize(np.array([0.3])).sd)


def test_welch_matches_scipy():
    d = welch(A, B)
    ref = stats.ttest_ind(A, B, equal_var=False)
    assert d.t == pytest.approx(ref.statistic, abs=1e-12)
    assert d.p == pytest.approx(ref.pvalue, abs=1e-12)
    assert d.df == pytest.approx(ref.df, abs=1e-9)
    interval = ref.confidence_interval(0.95)
    assert (d.low, d.high) == (pytest.approx(interval.low, abs=1e-12), pytest.approx(interval.high, abs=1e-12))
    assert d.diff == pytest.approx(A.mean() - B.mean())
    with pytest.raises(ValueError):
        welch(A[:1], B)


def test_holm_on_fixed_p_values():
    # sorted 0.01, 0.02, 0.04, 0.30 -> x4, x3, x2, x1 = 0.04, 0.06, 0.08, 0.30 (running max)
    np.testing.assert_allclose(holm(np.array([0.04, 0.01, 0.30, 0.02])), [0.08, 0.04, 0.30, 0.06])
    np.testing.assert_allclose(holm(np.array([0.5, 0.6])), [1.0, 1.0])


# --- nulls and ceilings -----------------------------------------------------------------


def _factors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in (3, 6, 10, 8)], axis=1)


def _scores(z: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return flatten_scores(compute_metrics(z, y, metrics=["mig", "modularity", "infomec"]))


def test_the_null_of_pure_noise_sits_where_noise_scores():
    """Noise latents score about their own shuffled-rows null mean (InfoM ~0.6 for noise: the
    null, not 0, is the floor); informative latents score far above theirs."""
    y = _factors(1500)
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((1500, 6))
    null = shuffled_null(lambda order: _scores(noise[order], y), len(y), repeats=4, seed=2)
    observed = _scores(noise, y)
    assert null.mean["infomec.infom"] > 0.3  # the floor is far from 0
    for name in ("infomec.infom", "infomec.infoc", "infomec.infoe", "mig", "modularity"):
        assert abs(observed[name] - null.mean[name]) <= 4 * null.sd[name] + 0.05, name
    good = y + 0.05 * rng.standard_normal(y.shape)
    good_null = shuffled_null(lambda order: _scores(good[order], y), len(y), repeats=2, seed=2)
    assert _scores(good, y)["infomec.infom"] > good_null.mean["infomec.infom"] + 0.25
    assert _scores(good, y)["mig"] > good_null.mean["mig"] + 0.3
    assert len(null.runs) == 4 and set(null.sd) == set(null.mean)


def test_shuffled_null_is_seeded():
    y = _factors(300)
    z = np.random.default_rng(0).standard_normal((300, 4))
    first = shuffled_null(lambda order: _scores(z[order], y), len(y), repeats=2, seed=5)
    again = shuffled_null(lambda order: _scores(z[order], y), len(y), repeats=2, seed=5)
    assert first.runs == again.runs
    with pytest.raises(ValueError):
        shuffled_null(lambda order: {}, 10, repeats=0)


def test_perfect_latents_reach_the_ceiling_and_the_ceiling_is_below_one_where_bins_cap_it():
    y = _factors(2000)
    perfect = _scores(perfect_latents(y), y)
    assert perfect["infomec.infom"] > 0.95 and perfect["infomec.infoc"] > 0.95 and perfect["infomec.infoe"] > 0.9
    dataset = load_dataset(DatasetSpec(name="dsprites", image_size=16))
    ceiling = dataset_ceiling(dataset, ZooProtocol(samples=600, metrics=("mig", "infomec")))
    # dSprites' 32-value positions and 40 rotations do not fit 20 bins: MIG's ceiling is < 1.
    assert 0.5 < ceiling["scores"]["mig"] < 0.95
    assert ceiling["scores"]["infomec.infom"] > 0.9


def test_protocol_scores_use_the_continuous_estimator_and_add_codes():
    y = _factors(600)
    z = y + 0.01 * np.random.default_rng(0).standard_normal(y.shape)
    protocol = ZooProtocol(samples=600, metrics=("infomec",))
    scores, flags = protocol_scores(z, y.copy(), y, protocol)
    continuous = compute_metrics(z, y, metrics=["infomec"])["infomec"]
    assert scores["infomec.infom"] == continuous["infom"]
    assert {"infomec_codes.infom", "infomec_codes.infoe"} <= set(scores)
    assert flags == {"infomec.infoe_near_zero": False, "infomec_codes.infoe_near_zero": False}


def test_a_cards_baselines_are_its_own_latents_null_and_the_ceiling_of_its_samples():
    y = _factors(900)
    z = np.concatenate(
        [
            y + 0.3 * np.random.default_rng(1).standard_normal(y.shape),
            np.random.default_rng(2).standard_normal((900, 2)),
        ],
        axis=1,
    )
    baselines = card_baselines(z, None, y, seed=4, dci=True)
    protocol = ZooProtocol(samples=900, seed=4, metrics=(*CARD_METRICS, "dci"), null_repeats=3)
    assert baselines["ceiling"] == protocol_scores(perfect_latents(y), None, y, protocol)[0]
    scores = protocol_scores(z, None, y, protocol)[0]
    assert set(baselines["null_mean"]) == set(scores) == set(baselines["ceiling"])
    # The latents carry the factors; with their rows shuffled they carry nothing.
    for name in (
        "mig",
        "infomec.infom",
        "infomec.infoe",
        "explicitness_test",
        "dci.disentanglement",
        "dci.informativeness_test",
    ):
        assert baselines["null_mean"][name] < scores[name] <= baselines["ceiling"][name] + 0.02, name
    assert baselines["null_mean"]["mig"] < 0.02 and abs(baselines["null_mean"]["explicitness_test"] - 0.5) < 0.05


class _Grid:
    """Factors drawn uniformly from a small grid (what the interventional scores sample)."""

    factor_sizes = (3, 4, 5, 6)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(size, size=n) for size in self.factor_sizes], axis=1)


def test_the_interventional_null_is_chance_and_their_ceiling_is_perfect():
    """FactorVAE and BetaVAE without images: latents drawn independently of the factors score
    near chance (1 / 4 factors; a majority vote over 4 factors with random argmins sits a
    little above it), perfect latents score 1, and the null is seeded."""
    votes = Interventions(train=300, eval=150, batch_size=32, variance_samples=2000)
    z = np.random.default_rng(5).standard_normal((1000, 6))
    null, ceiling = interventional_baselines(z, _Grid(), seed=3, votes=votes, repeats=3)
    assert (
        set(null.mean)
        == set(ceiling)
        == {"factor_vae.eval_accuracy", "factor_vae_corrected.eval_accuracy", "beta_vae.eval_accuracy"}
    )
    assert ceiling == dict.fromkeys(ceiling, 1.0)
    for name, value in null.mean.items():
        assert 0.15 < value < 0.45, (name, value)
        assert all(0.1 < run[name] < 0.5 for run in null.runs)
    again, _ = interventional_baselines(z, _Grid(), seed=3, votes=votes, repeats=3)
    assert again.runs == null.runs


def test_a_cards_baselines_cover_the_interventional_scores_when_given_the_votes():
    y = _Grid().sample_factors(600, np.random.default_rng(0))
    z = y + 0.05 * np.random.default_rng(1).standard_normal(y.shape)
    votes = Interventions(train=100, eval=50, batch_size=16, variance_samples=600)
    baselines = card_baselines(z, None, y, seed=2, repeats=2, interventions=(_Grid(), votes))
    assert baselines["metrics"][-3:] == ["factor_vae", "factor_vae_corrected", "beta_vae"]
    null, ceiling = interventional_baselines(z, _Grid(), seed=2, votes=votes, repeats=2)
    for name in ceiling:
        assert (baselines["null_mean"][name], baselines["ceiling"][name]) == (null.mean[name], ceiling[name])
    assert "mig" in baselines["null_mean"] and not any(
        name.startswith("dci") for name in baselines["ceiling"]
    )  # DCI: only with dci=True


# --- config -----------------------------------------------------------------------------


def test_config_members_and_validation():
    config = ZooConfig.model_validate(TINY)
    assert [m["name"] for m in config.members()] == [
        "dsprites/ae-seed0",
        "dsprites/ae-seed1",
        "dsprites/qlae-seed0",
        "dsprites/qlae-seed1",
    ]
    model, spec, run = config.member_run("dsprites", "qlae", 1)
    assert (model.latent_dim, spec.image_size, run.seed, run.weight_decay, run.steps) == (10, 16, 1, 0.0, 6)
    bad = [
        {**TINY, "variants": [{"name": "ae", "kind": "ae", "options": {"beta": 2}}]},  # AE has no beta
        {**TINY, "claims": [{"better": "qlae", "than": "vae", "metrics": ["mig"]}]},  # unknown variant
        {**TINY, "variants": [{"name": "ae", "kind": "ae"}, {"name": "ae", "kind": "qlae"}]},  # duplicate
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            ZooConfig.model_validate(data)


def test_a_member_whose_definition_changed_is_refused(tmp_path):
    config = ZooConfig.model_validate({**TINY, "variants": TINY["variants"][:1], "seeds": 1, "claims": []})
    run_zoo(config, tmp_path, workers=1, progress=False)
    changed = ZooConfig.model_validate(
        {**TINY, "variants": [{"name": "ae", "kind": "ae", "train": {"lr": 0.01}}], "seeds": 1, "claims": []}
    )
    with pytest.raises(ZooError, match="other settings"):
        run_zoo(changed, tmp_path, workers=1, progress=False)


def test_only_trains_the_members_matching_its_patterns_and_leaves_the_others(tmp_path):
    config = ZooConfig.model_validate({**TINY, "claims": []})
    manifest = run_zoo(config, tmp_path, workers=1, progress=False, only=["dsprites/qlae-*"])
    status = {m["name"]: m["status"] for m in manifest["members"]}
    assert status == {
        "dsprites/ae-seed0": "pending",
        "dsprites/ae-seed1": "pending",
        "dsprites/qlae-seed0": "done",
        "dsprites/qlae-seed1": "done",
    }
    assert (
        not (tmp_path / "dsprites" / "ae-seed0").exists()
        and (tmp_path / "dsprites" / "qlae-seed1" / "weights.safetensors").is_file()
    )
    assert manifest["last_run"]["trained"] == ["dsprites/qlae-seed0", "dsprites/qlae-seed1"]


# --- the CLI end to end, and resume after a kill ---------------------------------------------


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _summary(*args: str) -> dict:
    """The JSON line a zoo command ends with (progress bars and logs come before it)."""
    return json.loads(re.findall(r'\{"[^\r\n]*\}', _invoke(*args).output)[-1])


@pytest.mark.slow  # trains, scores and compares a whole small zoo: about a minute
def test_zoo_train_evaluate_compare_end_to_end(tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    out = tmp_path / "zoo"
    trained = _summary("zoo", "train", str(config), "--out", str(out), "--workers", "1")
    assert trained["members"] == 4 and trained["done"] == 4
    card = json.loads((out / "dsprites" / "qlae-seed1" / "card.json").read_text())
    assert card["zoo"] == {"member": "dsprites/qlae-seed1", "variant": "qlae", "seed": 1, "dataset": "dsprites"}
    assert card["seed"] == 1 and card["steps"] == 6

    _invoke("zoo", "evaluate", str(out))
    card = json.loads((out / "dsprites" / "qlae-seed1" / "card.json").read_text())
    evaluation = card["zoo"]["evaluation"]
    assert {"infomec.infom", "infomec_codes.infom", "mig", "modularity"} <= set(evaluation["scores"])
    assert set(evaluation["null"]["mean"]) == set(evaluation["scores"])
    assert evaluation["ceiling"]["infomec.infom"] > 0.9
    assert "k-NN" in evaluation["estimator"]
    ae = json.loads((out / "dsprites" / "ae-seed0" / "card.json").read_text())["zoo"]["evaluation"]
    assert "infomec_codes.infom" not in ae["scores"]  # no codes, no discrete estimator
    # Already scored under the protocol: nothing to redo.
    assert _summary("zoo", "evaluate", str(out)) == {"scored": 0, "skipped": 4}

    table = _invoke("zoo", "compare", str(out)).output
    assert (out / "table.md").read_text().strip() == table.strip()
    for text in (
        "| ae | 2 |",
        "| qlae | 2 |",
        "null (shuffled rows",
        "ceiling (perfect latents; codes scores: perfect codes)",
        "k-NN",
        "% of the paper's",
        "qlae > ae",
    ):
        assert text in table, text
    summary = json.loads((out / "table.json").read_text())
    row = summary["datasets"]["dsprites"]["variants"]["qlae"]["scores"]["infomec.infom"]
    assert row["n"] == 2 and row["ci95"][0] <= row["mean"] <= row["ci95"][1]
    claim = summary["claims"][0]
    assert claim["verdict"] in ("holds", "reversed", "not established") and 0 <= claim["p_holm"] <= 1

    again = _summary("zoo", "train", str(config), "--out", str(out), "--workers", "1")
    assert again["skipped"] == 4


KILL_SCRIPT = """
import sys
from pathlib import Path
from latentatlas.store.zoo import ZooConfig
from latentatlas.train.zoo import run_zoo
run_zoo(ZooConfig.model_validate_json(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), workers=1, progress=False)
"""


def test_resume_after_a_kill_finishes_equal_to_an_uninterrupted_run(tmp_path):
    """SIGKILL ``zoo train`` after the first member's first checkpoint: the rerun keeps what was
    done, resumes the member from its checkpoint and ends bitwise equal to a run never killed."""
    data = {
        **TINY,
        "variants": TINY["variants"][:1],
        "seeds": 1,
        "claims": [],
        "train": {**TINY["train"], "steps": 100, "checkpoint_every": 1},
    }
    config_path = tmp_path / "zoo.json"
    config_path.write_text(json.dumps(data))
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(config_path), str(killed)], env=env, stderr=subprocess.PIPE
    )
    pointer = killed / "dsprites" / "ae-seed0" / "checkpoint" / "latest"
    deadline = time.monotonic() + 120
    while child.poll() is None and not pointer.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    manifest = json.loads((killed / "zoo.json").read_text())
    assert manifest["members"][0]["status"] == "running"  # killed mid-member
    assert not (killed / "dsprites" / "ae-seed0" / "weights.safetensors").exists()

    config = ZooConfig.model_validate(data)
    resumed = run_zoo(config, killed, workers=1, progress=False)
    run_zoo(config, clean, workers=1, progress=False)
    assert resumed["members"][0]["status"] == "done"
    a = load_file(str(killed / "dsprites" / "ae-seed0" / "weights.safetensors"))
    b = load_file(str(clean / "dsprites" / "ae-seed0" / "weights.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow  # starts a local Ray cluster
def test_zoo_members_run_as_ray_tasks(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'ray[default]'); not installed")
    config = ZooConfig.model_validate({**TINY, "variants": TINY["variants"][:1], "claims": []})
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        manifest = run_zoo(config, tmp_path / "ray", ray_address="auto", progress=False)
    finally:
        ray.shutdown()
    assert [(e["name"], e["status"]) for e in manifest["members"]] == [
        ("dsprites/ae-seed0", "done"),
        ("dsprites/ae-seed1", "done"),
    ]
    assert json.loads((tmp_path / "ray" / "dsprites" / "ae-seed1" / "card.json").read_text())["zoo"]["seed"] == 1


def test_ship_rewrites_the_showcase_weights_as_float16_and_they_still_load(tmp_path):
    from latentatlas.store.folders import load_model_folder
    from latentatlas.store.zoo import ship_showcases

    data = {
        **TINY,
        "variants": [TINY["variants"][0], {**TINY["variants"][1], "showcase": True}],
        "seeds": 1,
        "claims": [],
    }
    run_zoo(ZooConfig.model_validate(data), tmp_path, workers=1, progress=False)
    before = load_file(str(tmp_path / "dsprites" / "qlae-seed0" / "weights.safetensors"))
    assert ship_showcases(tmp_path) == ["dsprites/qlae-seed0"]
    after = load_file(str(tmp_path / "dsprites" / "qlae-seed0" / "weights.safetensors"))
    assert all(
        after[k].dtype == torch.float16 and torch.allclose(after[k].float(), before[k], rtol=1e-3, atol=1e-4)
        for k in before
        if before[k].is_floating_point()
    )
    untouched = load_file(str(tmp_path / "dsprites" / "ae-seed0" / "weights.safetensors"))
    assert {v.dtype for v in untouched.values() if v.is_floating_point()} == {torch.float32}  # not a showcase
    loaded = load_model_folder(tmp_path / "dsprites" / "qlae-seed0")
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert "float16" in loaded.card["zoo"]["weights"]


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[2] / "zoo").glob("*.json")), ids=lambda p: p.name
)
def test_the_repository_zoo_configs_are_valid(path: Path) -> None:
    config = ZooConfig.model_validate(json.loads(path.read_text()))
    assert config.variants and config.datasets
    for claim in config.claims:  # every claim's metrics are scored by the zoo's protocol
        assert {metric.split(".")[0] for metric in claim.metrics} <= set(config.evaluation.metrics)
