"""Ensembles (``latentatlas ensemble``): parallel local training of tiny beta-VAE members,
manifest and probe encodings, resume without retraining, failure capture, the fragments
analysis, the CLI, and the optional Ray path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from cli_helpers import TINY
from latentatlas.cli import app
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.ensemble import analyze_ensemble
from latentatlas.fragments.hotspots import default_min_samples
from latentatlas.nets import NetConfig
from latentatlas.store import load_model_folder
from latentatlas.store.ensembles import EnsembleConfig, EnsembleError, member_name, read_manifest
from latentatlas.train import TrainConfig
from latentatlas.train import ensemble as ensemble_module
from latentatlas.train.ensemble import run_ensemble, summary

LATENT, PROBE = 3, 40
NAMES = ["beta1-seed0", "beta1-seed1", "beta2-seed0", "beta2-seed1"]
BLOCKED = "beta2-seed1"  # a plain file sits where this member's folder must go: it fails


def tiny_config(**update) -> EnsembleConfig:
    base = {
        "kind": "vae",
        "dataset": DatasetSpec(name="dsprites", image_size=16, holdout=50),
        "net": NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=16),
        "latent_dim": LATENT,
        "betas": (1.0, 2.0),
        "seeds": 2,
        "train": TrainConfig(steps=3, batch_size=8, threads=1, device="cpu", log_every=1),
        "probe_size": PROBE,
    }
    return EnsembleConfig(**{**base, **update})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 2 betas x 2 seeds ensemble trained by two spawned worker processes, one member blocked."""
    out = tmp_path_factory.mktemp("ensemble") / "tiny"
    out.mkdir()
    (out / BLOCKED).write_text("not a folder")
    run_ensemble(tiny_config(), out, jobs=2, progress=False)
    return out


def test_member_names_and_config_validation():
    assert member_name(4.0, 2) == "beta4-seed2" and member_name(0.5, 0) == "beta0.5-seed0"
    assert [m[0] for m in tiny_config().members()] == NAMES
    with pytest.raises(ValueError):
        tiny_config(betas=(-1.0,))
    with pytest.raises(ValueError):
        tiny_config(betas=(2.0, 2.0))


def test_parallel_run_writes_members_manifest_and_probes(trained):
    manifest = read_manifest(trained)
    assert [e["name"] for e in manifest["members"]] == NAMES
    status = {e["name"]: e["status"] for e in manifest["members"]}
    assert status == {**dict.fromkeys(NAMES, "done"), BLOCKED: "failed"}
    assert {(e["beta"], e["seed"]) for e in manifest["members"]} == {(1.0, 0), (1.0, 1), (2.0, 0), (2.0, 1)}
    probe_set = load_file(str(trained / "probe.safetensors"))
    indices = probe_set["indices"].numpy()
    assert len(indices) == PROBE and len(np.unique(indices)) == PROBE
    assert probe_set["factors"].shape == (PROBE, 5)
    for name in NAMES[:3]:
        folder = trained / name
        loaded = load_model_folder(folder)
        assert loaded.config.model.kind == "vae" and loaded.config.model.latent_dim == LATENT
        assert loaded.config.model.beta == float(name[4]) and loaded.card["seed"] == int(name[-1])
        assert loaded.card["ensemble"]["member"] == name and loaded.card["steps"] == 3
        probe = load_file(str(folder / "probe.safetensors"))
        assert probe["mu"].shape == probe["logvar"].shape == (PROBE, LATENT)
        assert np.array_equal(probe["indices"].numpy(), indices)
        assert np.isfinite(probe["mu"].numpy()).all()


def test_a_failing_member_is_reported_and_the_others_finish(trained):
    manifest = read_manifest(trained)
    failed = next(e for e in manifest["members"] if e["name"] == BLOCKED)
    assert failed["status"] == "failed" and "Error" in failed["error"]
    result = summary(manifest)
    assert result["done"] == 3 and result["failed"] == 1 and list(result["failed_members"]) == [BLOCKED]


def test_rerun_skips_finished_members_and_retries_failed_ones(trained, tmp_path):
    out = tmp_path / "tiny"
    shutil.copytree(trained, out)
    (out / BLOCKED).unlink()
    cards = {name: (out / name / "card.json").stat().st_mtime_ns for name in NAMES[:3]}
    manifest = run_ensemble(tiny_config(), out, jobs=1, progress=False)
    assert sorted(manifest["last_run"]["skipped"]) == sorted(NAMES[:3])
    assert manifest["last_run"]["trained"] == [BLOCKED]
    assert all(e["status"] == "done" for e in manifest["members"])
    assert {name: (out / name / "card.json").stat().st_mtime_ns for name in NAMES[:3]} == cards
    assert (out / BLOCKED / "probe.safetensors").is_file()
    # other training settings in the same folder are refused rather than mixed in
    with pytest.raises(EnsembleError, match="other settings"):
        run_ensemble(tiny_config(latent_dim=4), out, jobs=1, progress=False)


def test_in_process_failure_is_captured(tmp_path, monkeypatch):
    real_train = ensemble_module.train

    def flaky(model_config, *args, **kwargs):
        if model_config.beta == 2.0:
            raise RuntimeError("diverged")
        return real_train(model_config, *args, **kwargs)

    monkeypatch.setattr(ensemble_module, "train", flaky)
    manifest = run_ensemble(tiny_config(seeds=1), tmp_path / "e", jobs=1, progress=False)
    status = {e["name"]: (e["status"], e.get("error")) for e in manifest["members"]}
    assert status == {"beta1-seed0": ("done", None), "beta2-seed0": ("failed", "RuntimeError: diverged")}


def test_analyze_writes_fragments_and_hotspots(trained):
    analysis = analyze_ensemble(trained, progress=False)
    assert analysis == json.loads((trained / "analysis.json").read_text())
    members = len(analysis["members"])
    assert members == 3 and [s["name"] for s in analysis["skipped_members"]] == [BLOCKED]
    channels = members * LATENT
    assert len(analysis["info_bits"]) == channels == len(analysis["channels"])
    assert np.array(analysis["nmi"], dtype=float).shape == (channels, channels)
    assert np.array(analysis["vi"], dtype=float).shape == (channels, channels)
    assert np.array(analysis["nmi_factor"], dtype=float).shape == (channels, 5)
    assert len(analysis["factor_info_bits"]) == 5 and analysis["factor_names"][0] == "shape"
    assert len(analysis["hotspots"]["labels"]) == channels
    assert analysis["channels"][LATENT] == {"index": LATENT, "member": "beta1-seed1", "beta": 1.0, "seed": 1, "dim": 0}
    spaces = analysis["spaces"]
    assert spaces["members"] == analysis["members"] and len(spaces["info_bits"]) == members
    nmi = np.array(spaces["nmi"], dtype=float)
    assert nmi.shape == (members, members) and np.allclose(np.diag(nmi), 1.0)
    # min_samples by the stated rule: the design's seeds per beta (2 here)
    assert analysis["hotspots"]["min_samples_rule"] == "runs_per_configuration"
    assert analysis["hotspots"]["runs_per_configuration"] == 2
    assert analysis["hotspots"]["min_samples"] == default_min_samples(2)
    fusion = analysis["fusion"]
    assert fusion["best_member"] in analysis["members"] and fusion["channels"] == LATENT
    # fusion from random, its trajectory and where it stopped
    assert fusion["init"] == "random" and fusion["start_member"] is None
    assert 0 < fusion["steps"] <= fusion["max_steps"] and fusion["converged"] == (fusion["steps"] < fusion["max_steps"])
    every = fusion["history_every"]
    assert len(fusion["history"]) == fusion["steps"] // every + 1 + (
        fusion["steps"] % every != 0
    )  # steps 0, k, 2k, ... and the last
    assert fusion["history"][-1] > fusion["history"][0] and fusion["seconds"] >= 0
    assert fusion["best_member_info_bits"] == pytest.approx(
        spaces["info_bits"][analysis["members"].index(fusion["best_member"])]
    )
    assert np.isfinite([fusion["info_bits"], fusion["mean_nmi"], fusion["mean_vi"]]).all()
    fused = load_file(str(trained / fusion["file"]))
    assert fused["mu"].shape == fused["logvar"].shape == (len(fused["indices"]), LATENT)


def test_cli_train_and_analyze(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = [
        "ensemble",
        "train",
        "--out",
        str(out),
        "--family",
        "tcvae",
        "--betas",
        "1,4",
        "--seeds",
        "1",
        "--latent-dim",
        "2",
        "--steps",
        "2",
        *TINY,
        "--probe-size",
        "24",
        "--jobs",
        "1",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["done"] == 2 and line["failed_members"] == {}
    assert load_model_folder(out / "beta4-seed0").config.model.kind == "tcvae"
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and json.loads(again.stdout.strip().splitlines()[-1])["skipped"] == 2

    result = runner.invoke(app, ["ensemble", "analyze", str(out), "--min-samples", "2"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["members"] == 2 and line["channels"] == 4
    assert line["min_samples"] == 2 and line["min_samples_rule"] == "given"
    assert 0 <= line["beat_untrained_null"] <= line["hotspots"]
    assert len(json.loads((out / "analysis.json").read_text())["info_bits"]) == 4

    before = load_file(str(out / "beta4-seed0" / "weights.safetensors"))
    shipped = runner.invoke(app, ["ensemble", "ship", str(out)])
    assert shipped.exit_code == 0 and json.loads(shipped.stdout)["float16"] == ["beta1-seed0", "beta4-seed0"]
    after = load_file(str(out / "beta4-seed0" / "weights.safetensors"))
    assert {v.dtype for v in after.values() if v.is_floating_point()} == {torch.float16}
    assert all(
        torch.allclose(after[k].float(), before[k], rtol=1e-3, atol=1e-4)
        for k in before
        if before[k].is_floating_point()
    )
    member = load_model_folder(out / "beta4-seed0")
    assert "float16" in member.card["ensemble"]["weights"] and next(member.model.parameters()).dtype == torch.float32

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "beta1-seed0").write_text("not a folder")
    failing = runner.invoke(app, ["ensemble", "train", "--out", str(blocked), *args[4:6], "--betas", "1", *args[8:]])
    assert failing.exit_code == 1
    assert list(json.loads(failing.stdout.strip().splitlines()[-1])["failed_members"]) == ["beta1-seed0"]

    missing = runner.invoke(app, ["ensemble", "analyze", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no manifest.json" in missing.output
    bad = runner.invoke(app, ["ensemble", "train", "--out", str(tmp_path / "x"), "--betas", "1,-2"])
    assert bad.exit_code != 0


def test_ray_path_without_ray_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(EnsembleError, match="needs Ray"):
        run_ensemble(tiny_config(seeds=1, betas=(1.0,)), tmp_path / "e", ray_address="auto", progress=False)


@pytest.mark.slow  # starts a local Ray cluster
def test_ray_path_trains_a_two_member_ensemble(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'ray[default]'); not installed")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        manifest = run_ensemble(tiny_config(betas=(1.0,)), tmp_path / "ray", ray_address="auto", progress=False)
    finally:
        ray.shutdown()
    assert [(e["name"], e["status"]) for e in manifest["members"]] == [("beta1-seed0", "done"), ("beta1-seed1", "done")]
    for name in ("beta1-seed0", "beta1-seed1"):
        assert load_file(str(tmp_path / "ray" / name / "probe.safetensors"))["mu"].shape == (PROBE, LATENT)


def test_a_member_folder_is_trained_by_one_process_at_a_time(tmp_path):
    import fcntl

    from latentatlas.train.ensemble import MEMBER_LOCK, run_member

    folder = tmp_path / "beta1-seed0"
    folder.mkdir()
    with open(folder / MEMBER_LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a still-running worker holds it
        result = run_member(tiny_config().model_dump_json(), "beta1-seed0", 1.0, 0, str(folder), [0, 1])
    assert result["status"] == "failed" and "another process" in result["error"]
    assert not (folder / "weights.safetensors").exists()


def test_killing_ensemble_train_leaves_no_orphan_workers(tmp_path):
    """SIGKILL the parent mid-run: its spawned workers die with it (PR_SET_PDEATHSIG)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "ens"
    args = [
        sys.executable,
        "-m",
        "latentatlas.cli",
        "ensemble",
        "train",
        "--out",
        str(out),
        "--betas",
        "1,2",
        "--seeds",
        "1",
        "--latent-dim",
        "3",
        "--steps",
        "100000",
        *TINY,
        "--probe-size",
        "20",
        "--jobs",
        "2",
    ]
    parent = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def workers() -> list[int]:
        found = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    stat = open(f"/proc/{pid}/stat").read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent.pid:
                    found.append(int(pid))
        return found

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(
        (out / name / "checkpoint").exists() or (out / name / ".lock").exists()
        for name in ("beta1-seed0", "beta2-seed0")
    ):
        time.sleep(0.2)
    children = workers()
    assert children, "the ensemble never started its workers"
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 15
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [
            pid
            for pid in children
            if os.path.exists(f"/proc/{pid}")
            and "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        ]
    assert not alive, f"orphan workers still running: {alive}"


def test_clip_nmi_clips_to_the_unit_interval_and_counts_each_pair_once():
    from latentatlas.evaluation.nmi_clip import clip_nmi

    nmi = np.array([[1.0, -0.3, 0.5], [-0.3, 1.0, 1.02], [0.5, 1.02, 1.0]])
    clipped = clip_nmi(nmi, pairwise=True)
    np.testing.assert_array_equal(clipped.values, np.clip(nmi, 0, 1))
    assert (clipped.below_zero, clipped.above_one) == (1, 1)
    assert (clipped.min_estimate, clipped.max_estimate) == (-0.3, 1.02)
    by_factor = clip_nmi(np.array([[-0.1, np.nan], [0.2, -0.2]]), pairwise=False)
    assert (by_factor.below_zero, by_factor.min_estimate, by_factor.max_estimate) == (2, -0.2, None)
    assert np.isnan(by_factor.values[0, 1])
