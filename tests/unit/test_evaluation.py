"""evaluate_model and ``latentatlas evaluate``: every metric of a tiny trained model on its
procedural dataset, written into its card as strict JSON, with progress reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.data import registry
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.disentanglement import (
    EvaluationError,
    VoteCounts,
    encode_protocol_samples,
    evaluate_model,
)
from latentatlas.families import model_config
from latentatlas.metrics.baselines import flatten_scores
from latentatlas.metrics.catalogue import CATALOGUE
from latentatlas.nets import NetConfig
from latentatlas.store import load_model_folder
from latentatlas.train import TrainConfig, train

NET = NetConfig(image_size=32, channels=3, widths=(8, 8, 8), hidden=32)
SHAPES3D = DatasetSpec(name="shapes3d", image_size=32)
FACTORS = ["floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"]
SAMPLES, VOTES = 90, VoteCounts(train=4, eval=2)
SCORES = ["mig", "sap", "sap_continuous", "modularity", "explicitness_train", "explicitness_test"]
METRIC_KEYS = {
    *SCORES,
    "dci",
    "dci_fast",
    "infomec",
    "med",
    "factor_vae",
    "factor_vae_corrected",
    "beta_vae",
}


def _strict_json(path: Path) -> dict:
    def refuse(token: str):
        raise AssertionError(f"{path} holds {token}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A QLAE and a VAE on Shapes3D at 32x32, trained for a few steps."""
    root = tmp_path_factory.mktemp("evaluation")
    run = TrainConfig(steps=6, batch_size=16, threads=1, device="cpu", log_every=3, checkpoint_every=6, seed=0)
    out = {}
    for kind, dim in (("qlae", 12), ("vae", 6)):
        out[kind] = root / kind
        train(model_config(kind=kind, latent_dim=dim, net=NET), SHAPES3D, run, out[kind], progress=False)
    return out


def _evaluate_command(folder: Path) -> list[str]:
    """``latentatlas evaluate FOLDER`` with small vote and sample counts, on one CPU thread."""
    votes = ["--train-votes", "4", "--eval-votes", "2"]
    return ["evaluate", str(folder), "--samples", str(SAMPLES), *votes, "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def cli_run(folders):
    """``latentatlas evaluate`` on the QLAE with small counts."""
    return CliRunner().invoke(app, _evaluate_command(folders["qlae"]))


def _check_metrics(metrics: dict, latent_dim: int) -> None:
    assert set(metrics["values"]) - {"infomec_codes"} == METRIC_KEYS  # infomec_codes: models with codes
    with_codes = "infomec_codes" in metrics["values"]
    declared = {score.key for entry in CATALOGUE if with_codes or entry.source != "codes" for score in entry.scores}
    assert set(flatten_scores(metrics["values"])) == declared  # every catalogue score, and only those
    values = metrics["values"]
    for name in SCORES:
        assert 0.0 <= values[name] <= 1.0, name
    for name in ("dci", "dci_fast"):
        assert set(values[name]) == {"disentanglement", "completeness", "informativeness_train", "informativeness_test"}
        assert all(0.0 <= v <= 1.0 for v in values[name].values()), name
    assert set(values["infomec"]) == {"infom", "infoc", "infoe", "infoe_near_zero"}
    assert all(0.0 <= v <= 1.0 for v in values["infomec"].values())
    for name in ("factor_vae", "factor_vae_corrected"):
        assert 0.0 <= values[name]["train_accuracy"] <= 1.0 and 0.0 <= values[name]["eval_accuracy"] <= 1.0
        assert 0 <= values[name]["num_active_dims"] <= latent_dim
    assert set(values["beta_vae"]) == {"train_accuracy", "eval_accuracy"}

    k, d = len(FACTORS), latent_dim
    matrices = metrics["matrices"]
    assert set(matrices) == {"infomec_nmi", "infomec_active", "dci_importance", "mig_mutual_info", "factor_vae_votes"}
    assert [len(matrices["infomec_nmi"]), *sorted({len(row) for row in matrices["infomec_nmi"]})] == [k, d]
    assert all(0.0 <= v <= 1.0 + 1e-9 for row in matrices["infomec_nmi"] for v in row)
    assert len(matrices["infomec_active"]) == d and all(isinstance(a, bool) for a in matrices["infomec_active"])
    for name in ("dci_importance", "mig_mutual_info"):
        assert [len(matrices[name]), *sorted({len(row) for row in matrices[name]})] == [d, k], name
    assert sum(map(sum, matrices["factor_vae_votes"])) in (0, VOTES.train)  # 0: no latent active

    assert metrics["factor_names"] == FACTORS and metrics["latent_dim"] == d
    assert (metrics["samples"], metrics["train_rows"], metrics["seed"]) == (SAMPLES, 60, 0)
    assert metrics["votes"] == {"train": 4, "eval": 2, "batch_size": 64}
    assert metrics["seconds"]["total"] >= max(v for key, v in metrics["seconds"].items() if key != "total")


def test_cli_evaluate_writes_the_card_and_prints_a_table(cli_run, folders):
    assert cli_run.exit_code == 0, cli_run.output
    for row in (
        "mig",
        "dci.disentanglement",
        "infomec.infom",
        "factor_vae_corrected.eval_accuracy",
        "beta_vae.eval_accuracy",
    ):
        assert row in cli_run.stdout
    assert "written to" in cli_run.stdout
    card = _strict_json(folders["qlae"] / "card.json")
    assert card["steps"] == 6 and "curves" in card  # the training card is kept
    _check_metrics(card["metrics"], 12)
    # One estimator for every model (continuous k-NN); the QLAE's codes add the discrete one.
    assert card["metrics"]["infomec_latents"] == "values"
    assert set(card["metrics"]["values"]["infomec_codes"]) == {"infom", "infoc", "infoe", "infoe_near_zero"}
    # Every latent active: the reference and corrected FactorVAE variants coincide exactly.
    values = card["metrics"]["values"]
    if values["factor_vae"]["num_active_dims"] == 12:
        assert values["factor_vae"] == values["factor_vae_corrected"]


def test_evaluate_model_continuous_latents_progress_and_loaded_card(folders):
    loaded = load_model_folder(folders["vae"])
    reports: list[tuple[float, str]] = []
    metrics = evaluate_model(
        loaded, samples=SAMPLES, votes=VOTES, progress=lambda f, s: reports.append((f, s)), n_jobs=1
    )
    _check_metrics(metrics, 6)
    assert metrics["infomec_latents"] == "values"
    assert loaded.card["metrics"] == metrics  # the loaded model's card follows the file
    assert _strict_json(folders["vae"] / "card.json")["metrics"] == metrics

    fractions = [f for f, _ in reports]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(set(fractions)) > 10
    stages = list(dict.fromkeys(stage for _, stage in reports))
    assert stages[0].startswith("rendering and encoding") and stages[-1] == "done"
    assert "computing dci" in stages and any(stage.startswith("BetaVAE") for stage in stages)
    # Exact DCI advances per factor (Shapes3D: 6), not in one jump at its end.
    during_dci = sorted({f for f, stage in reports if stage == "computing dci"})
    assert len(during_dci) >= 6


def test_evaluate_model_refuses_too_few_samples(folders):
    with pytest.raises(EvaluationError, match="at least"):
        evaluate_model(folders["vae"], samples=5, write_card=False)
    with pytest.raises(EvaluationError, match="votes"):
        VoteCounts(train=0)


def test_evaluate_model_leaves_out_the_metrics_named_and_refuses_unknown_names(folders):
    metrics = evaluate_model(
        folders["vae"], samples=SAMPLES, votes=VOTES, n_jobs=1, write_card=False, leave_out=("mig", "dci")
    )
    assert "dci" not in metrics["values"] and "mig" not in metrics["values"] and "dci_fast" in metrics["values"]
    assert "mig" not in metrics["baselines"]["null_mean"] and "infomec.infom" in metrics["baselines"]["null_mean"]
    assert metrics["left_out"] == ["dci", "mig"]
    with pytest.raises(EvaluationError, match="no metric called dcii to leave out"):
        evaluate_model(folders["vae"], samples=SAMPLES, write_card=False, leave_out=("dcii",))


def test_samples_encoded_once_score_as_the_evaluation_encodes_them(folders):
    """An ordered model's MED encodes every latent of the metrics' own samples first; handed to
    evaluate_model they give the scores its own encoding gives (codes too: a QLAE)."""
    loaded = load_model_folder(folders["qlae"])
    encoded = encode_protocol_samples(loaded, load_dataset(loaded.config.dataset), SAMPLES, 0)
    options = {"samples": SAMPLES, "votes": VOTES, "n_jobs": 1, "write_card": False, "leave_out": ("dci",)}
    own = evaluate_model(loaded, **options)
    shared = evaluate_model(loaded, **options, encoded=encoded)
    assert flatten_scores(shared["values"]) == flatten_scores(own["values"])
    assert "infomec_codes" in shared["values"] and shared["seconds"]["encode"] == round(encoded.seconds, 2)
    with pytest.raises(EvaluationError, match=f"not {SAMPLES + 1} of seed 0"):
        evaluate_model(loaded, **{**options, "samples": SAMPLES + 1}, encoded=encoded)


def test_an_ordered_flow_is_scored_on_its_top_2k_latents(tmp_path, monkeypatch):
    """``latentatlas evaluate`` on an EOFlow: its card's flow section (PSNR against C beside
    PCA, denoising, throughput) and traversals are refreshed, and the metrics see its top 2K =
    12 of 16 x 16 x 3 = 768 ordered latents, as the EOFlow paper scores InfoMEC. The dataset is
    opened once for the flow section, MED and the metrics."""
    spec = DatasetSpec(name="shapes3d", image_size=16)
    net = NetConfig(image_size=16, channels=3, widths=(8, 8), hidden=16)
    config = model_config(kind="eoflow", latent_dim=768, net=net, flow_levels=1, flow_blocks=1, flow_hidden=8)
    run = TrainConfig(steps=2, batch_size=8, threads=1, device="cpu", log_every=1, checkpoint_every=2, seed=0)
    folder = tmp_path / "flow"
    train(config, spec, run, folder, progress=False)
    (folder / "traversals.png").unlink()
    opened = []
    procedural, official = registry.LOADERS["shapes3d"]
    assert procedural is not None
    monkeypatch.setitem(registry.LOADERS, "shapes3d", (lambda spec: opened.append(spec) or procedural(spec), official))
    result = CliRunner().invoke(app, _evaluate_command(folder))
    assert result.exit_code == 0, result.output
    assert opened == [spec]
    assert "PSNR by C (EOFlow / PCA)" in result.stdout and "C=   768  120.00 / 120.00 dB" in result.stdout
    card = _strict_json(folder / "card.json")
    _check_metrics(card["metrics"], 12)
    assert card["metrics"]["latents_scored"] == "the top 12 of 768 ordered latents"
    flow = card["flow"]
    assert flow["truncation"]["keep"][-1] == 768 and flow["truncation"]["psnr"][-1] >= 60
    assert flow["throughput"]["bpd_by_minute"][-1][1] == card["curves"]["bpd"][-1]
    assert (folder / "traversals.png").is_file()  # redrawn
    med = flow["med"]  # MED on all 768 latents, and against C beside its shuffled-rows null
    assert med["latents"] == 768 and med["samples"] == SAMPLES and med["all"]["top1"]["dims"]
    assert med["by_keep"]["keep"][0] == 2 and med["by_keep"]["keep"][-1] == 768
    assert med["by_keep"]["disentanglement"][-1] == pytest.approx(med["all"]["disentanglement"])
    assert len(med["by_keep"]["null_completeness"]) == len(med["by_keep"]["keep"])


def test_cli_compare_tabulates_the_cards(cli_run, folders, tmp_path):
    assert cli_run.exit_code == 0, cli_run.output
    result = CliRunner().invoke(app, ["compare", str(folders["qlae"])])
    assert result.exit_code == 0, result.output
    header, _rule, row = result.stdout.strip().splitlines()
    assert header.split(" | ")[0] == "| model" and "InfoM" in header and "PSNR dB" in header
    card = _strict_json(folders["qlae"] / "card.json")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["qlae", "qlae", "6", "16"]
    assert cells[4] == f"{card['heldout']['psnr_db']:.1f}"
    assert cells[5] == f"{card['metrics']['values']['infomec']['infom']:.3f}"
    missing = CliRunner().invoke(app, ["compare", str(tmp_path)])
    assert missing.exit_code == 2 and "no card.json" in missing.output


def test_add_scores_a_missing_metric_on_the_cards_own_samples_and_keeps_the_rest(folders, tmp_path):
    """``evaluate --add med`` on a card scored without MED: MED (and top-k MED) with its null and
    ceiling join the card; every other score, null and ceiling stays; the same MED as a full
    evaluation on those samples gives."""
    import shutil

    folder = tmp_path / "vae"
    shutil.copytree(folders["vae"], folder)
    full = evaluate_model(folder, samples=SAMPLES, votes=VOTES, n_jobs=1, write_card=False)
    without = evaluate_model(folder, samples=SAMPLES, votes=VOTES, n_jobs=1, leave_out=("med", "dci"))
    assert "med" not in without["values"]
    result = CliRunner().invoke(app, ["evaluate", str(folder), "--add", "med", "--threads", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "added med" in result.output and "med.top1.disentanglement" in result.output
    card = _strict_json(folder / "card.json")["metrics"]
    assert flatten_scores({"med": card["values"]["med"]}) == pytest.approx(
        flatten_scores({"med": full["values"]["med"]})
    )
    assert card["values"]["med"]["top1"]["dims"] == full["values"]["med"]["top1"]["dims"]
    assert {key: card["values"][key] for key in without["values"]} == without["values"]
    for part in ("null_mean", "ceiling"):
        assert {k: v for k, v in card["baselines"][part].items() if not k.startswith("med.")} == without["baselines"][
            part
        ]
        assert card["baselines"][part]["med.top1.disentanglement"] == pytest.approx(
            full["baselines"][part]["med.top1.disentanglement"]
        )
    assert card["left_out"] == ["dci"] and card["added"][0]["metrics"] == ["med"]


def test_add_refuses_what_it_cannot_add(folders, tmp_path):
    import shutil

    folder = tmp_path / "vae"
    shutil.copytree(folders["vae"], folder)
    (folder / "card.json").write_text(
        json.dumps({k: v for k, v in _strict_json(folder / "card.json").items() if k != "metrics"})
    )
    runner = CliRunner()
    no_metrics = runner.invoke(
        app, ["evaluate", str(folder), "--add", "med", "--device", "cpu"], env={"COLUMNS": "200"}
    )
    assert no_metrics.exit_code != 0 and "has no metrics to add to" in no_metrics.output
    voted = runner.invoke(
        app, ["evaluate", str(folder), "--add", "factor_vae", "--device", "cpu"], env={"COLUMNS": "200"}
    )
    assert voted.exit_code != 0 and "cannot add factor_vae" in voted.output
