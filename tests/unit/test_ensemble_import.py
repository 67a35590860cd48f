"""``latentatlas ensemble import``: saved-latents runs from any framework become an ensemble folder
that ``ensemble analyze`` reads like a trained one; every bad run is a clear error naming the
file(s) and leaving nothing behind."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from ensemble_runs import FACTOR_NAMES, probe_factors, run_arrays, write_run
from latentatlas.cli import app
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.ensemble import analyze_ensemble, padded_spaces
from latentatlas.fragments.spaces import compute_space_similarity
from latentatlas.imports import ModelImportError, import_ensemble
from latentatlas.nets import NetConfig
from latentatlas.store.ensembles import EnsembleConfig, EnsembleError, ensemble_design
from latentatlas.train import TrainConfig
from latentatlas.train.ensemble import run_ensemble

torch.set_num_threads(1)
N = 40


def _nothing_written(out) -> None:
    """Neither the folder nor a staging folder beside it."""
    assert not out.exists()
    assert not out.parent.exists() or not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def _import_error(tmp_path, runs: list[dict], names=None) -> str:
    paths = [write_run(tmp_path / f"run{k}.npz", arrays) for k, arrays in enumerate(runs)]
    out = tmp_path / "ensembles" / "bad"
    with pytest.raises(ModelImportError) as caught:
        import_ensemble(paths, out, names)
    _nothing_written(out)
    return str(caught.value)


def _without(arrays: dict, *names: str) -> dict:
    return {k: v for k, v in arrays.items() if k not in names}


def _with(arrays: dict, **changes) -> dict:
    return {**arrays, **changes}


GOOD = run_arrays(0, N)
NAN_MU = GOOD["mu"].copy()
NAN_MU[5, 1] = np.nan

BAD_RUNS = [
    # (what is wrong, the second run, words the message must hold)
    ("no logvar", _without(GOOD, "logvar"), ["run1.npz", "no logvar", "export", "log-variance"]),
    ("no means", _without(GOOD, "mu"), ["run1.npz", "no mu (or z)"]),
    ("no factors", _without(GOOD, "y"), ["run1.npz", "no y"]),
    ("mu and z", _with(GOOD, z=GOOD["mu"]), ["run1.npz", "both mu and z"]),
    ("unknown array", _with(GOOD, weights=np.zeros(3)), ["run1.npz", "unknown array(s) weights"]),
    ("integer mu", _with(GOOD, mu=np.ones((N, 3), dtype=np.int64)), ["run1.npz", "mu is int64", "floats"]),
    ("1-D mu", _with(GOOD, mu=GOOD["mu"][:, 0]), ["run1.npz", "mu is [40]", "(N, D)"]),
    ("NaN in mu", _with(GOOD, mu=NAN_MU), ["run1.npz", "NaN or infinite", "row 5, latent 1"]),
    ("logvar shape", _with(GOOD, logvar=GOOD["logvar"][:, :2]), ["run1.npz", "logvar is [40, 2] but mu is [40, 3]"]),
    ("huge logvar", _with(GOOD, logvar=GOOD["logvar"] + 500), ["run1.npz", "logvar reaches", "log-variance"]),
    ("float y", _with(GOOD, y=GOOD["y"].astype(float)), ["run1.npz", "y is float64", "integers"]),
    ("short y", _with(GOOD, y=GOOD["y"][:10]), ["run1.npz", "y is [10, 2]", "(40, K)"]),
    ("negative y", _with(GOOD, y=GOOD["y"] - 1), ["run1.npz", "y holds negative values"]),
    ("factor names", _with(GOOD, factor_names=np.array(["a"])), ["run1.npz", "factor_names must be 2 strings"]),
    ("pickled", _with(GOOD, y=np.array([{"a": 1}] * N, dtype=object)), ["run1.npz", "pickled", "never loaded"]),
    # against the first run
    ("other rows", run_arrays(1, N + 5), ["run1.npz and", "run0.npz", "probe rows (45 vs 40)"]),
    (
        "other y",
        _with(GOOD, y=np.roll(GOOD["y"], 1, axis=0)),
        ["run1.npz and", "run0.npz", "differ in y", "first at row"],
    ),
    ("other factors", _with(GOOD, y=GOOD["y"][:, :1], factor_names=np.array(["shape"])), ["differ in factors"]),
    ("other names", _with(GOOD, factor_names=np.array(["colour", "size"])), ["differ in factor_names"]),
]


@pytest.mark.parametrize(("wrong", "second", "words"), BAD_RUNS, ids=[case[0] for case in BAD_RUNS])
def test_a_bad_run_is_a_clear_error_and_nothing_is_written(tmp_path, wrong, second, words):
    message = _import_error(tmp_path, [GOOD, second])
    for word in words:
        assert word in message, (wrong, message)


def test_indices_and_dataset_must_agree_when_given(tmp_path):
    indexed = _with(GOOD, indices=np.arange(100, 100 + N), dataset=np.array("dsprites"))
    other = _with(indexed, indices=np.arange(200, 200 + N))
    assert "differ in indices (first at row 0: 200 vs 100)" in _import_error(tmp_path, [indexed, other])
    assert "differ in dataset ('shapes3d' vs 'dsprites')" in _import_error(
        tmp_path, [indexed, _with(indexed, dataset=np.array("shapes3d"))]
    )
    assert "indices holds negative values" in _import_error(
        tmp_path, [indexed, _with(indexed, indices=np.arange(N) - 1)]
    )


def test_names_files_and_destination_are_checked(tmp_path):
    assert "at least two runs, got 1" in _import_error(tmp_path, [GOOD])
    assert "--names gives 1 names for 2 run files" in _import_error(tmp_path, [GOOD, GOOD], ["a"])
    assert "both be named 'a'" in _import_error(tmp_path, [GOOD, GOOD], ["a", "a"])
    assert "'../x' is not usable" in _import_error(tmp_path, [GOOD, GOOD], ["a", "../x"])
    assert "'runs' is not usable" in _import_error(tmp_path, [GOOD, GOOD], ["a", "runs"])
    good = write_run(tmp_path / "good.npz", GOOD)
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    with pytest.raises(ModelImportError, match="notes.npz: not a readable .npz"):
        import_ensemble([good, text], tmp_path / "out")
    with pytest.raises(ModelImportError, match="missing.npz: no such file"):
        import_ensemble([good, tmp_path / "missing.npz"], tmp_path / "out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ModelImportError, match="already exists"):
        import_ensemble([good, good], tmp_path / "taken", ["a", "b"])
    assert not (tmp_path / "out").exists()


def test_the_folder_records_its_sources_and_the_probe_encodings(tmp_path):
    a = write_run(tmp_path / "seed-a.npz", run_arrays(0, N, latent_dim=3))
    b = write_run(tmp_path / "seed-b.npz", _with(_without(run_arrays(1, N, 2), "mu"), z=run_arrays(1, N, 2)["mu"]))
    out = tmp_path / "ensembles" / "two"
    manifest = import_ensemble([a, b], out)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    design = ensemble_design(manifest)
    assert design.source == "imported" and not design.members_decode and "no decoder" in design.members_note
    assert design.latent_dims == {"seed-a": 3, "seed-b": 2} and design.runs_per_configuration == 2
    assert manifest["config"]["factor_names"] == FACTOR_NAMES and manifest["config"]["probe_rows"] == "file order"
    for member, path in zip(manifest["members"], (a, b)):
        assert member["status"] == "done" and member["source"]["file"] == path.name
        assert member["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    probe = load_file(str(out / "probe.safetensors"))
    assert probe["indices"].tolist() == list(range(N)) and np.array_equal(probe["factors"].numpy(), probe_factors(N))
    member = load_file(str(out / "seed-b" / "probe.safetensors"))
    assert member["mu"].dtype == member["logvar"].dtype == torch.float32 and member["mu"].shape == (N, 2)
    assert np.allclose(member["mu"].numpy(), run_arrays(1, N, 2)["mu"], atol=1e-6)
    assert member["indices"].tolist() == list(range(N))
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_copied_run_has_nmi_one_with_its_original_channel_by_channel(tmp_path):
    a = write_run(tmp_path / "a.npz", run_arrays(0, N))
    b = tmp_path / "b.npz"
    shutil.copy(a, b)
    out = tmp_path / "copy"
    import_ensemble([a, b], out)
    analysis = analyze_ensemble(out, progress=False, fusion_steps=0)
    d = 3
    assert analysis["members"] == ["a", "b"] and analysis["latent_dims"] == [d, d] and analysis["source"] == "imported"
    assert [(c["member"], c["dim"], c["beta"], c["seed"]) for c in analysis["channels"]] == [
        (m, k, None, None) for m in ("a", "b") for k in range(d)
    ]
    nmi, vi = np.array(analysis["nmi"], dtype=float), np.array(analysis["vi"], dtype=float)
    active = [k for k in range(d) if analysis["active"][k]]
    assert len(active) >= 2  # the channels that follow the two factors
    for k in active:
        assert nmi[k, d + k] == pytest.approx(1.0, abs=1e-9) and vi[k, d + k] == pytest.approx(0.0, abs=1e-9)
    assert analysis["spaces"]["nmi"][0][1] == pytest.approx(1.0, abs=1e-9)
    assert analysis["hotspots"]["min_samples"] == 2 and analysis["hotspots"]["runs_per_configuration"] == 2


def test_runs_of_different_sizes_are_analysed_whole_and_fused(tmp_path):
    """Channels are numbered by offsets; a smaller space is padded with constant channels, which
    leaves its information exactly as it was."""
    a = write_run(tmp_path / "a.npz", run_arrays(0, N, latent_dim=4))
    b = write_run(tmp_path / "b.npz", run_arrays(1, N, latent_dim=2))
    out = tmp_path / "sizes"
    import_ensemble([a, b], out)
    analysis = analyze_ensemble(out, progress=False, fusion_steps=30)
    assert [c["index"] for c in analysis["channels"]] == list(range(6)) and analysis["latent_dims"] == [4, 2]
    assert [c["member"] for c in analysis["channels"]] == ["a"] * 4 + ["b"] * 2
    alone = run_arrays(1, N, latent_dim=2)
    alone_bits = compute_space_similarity(alone["mu"].T[None], alone["logvar"].T[None]).info_bits[0]
    assert analysis["spaces"]["info_bits"][1] == pytest.approx(alone_bits, abs=1e-5)  # float32 storage
    assert analysis["fusion"]["channels"] == 4 and analysis["fusion"]["steps"] > 0
    mus, logvars = [np.ones((4, 3)), np.ones((2, 3))], [np.zeros((4, 3)), np.zeros((2, 3))]
    padded_mu, padded_lv = padded_spaces(mus, logvars)
    assert padded_mu.shape == padded_lv.shape == (2, 4, 3) and not padded_mu[1, 2:].any()


def test_an_imported_folder_cannot_be_trained_into(tmp_path):
    a = write_run(tmp_path / "a.npz", GOOD)
    out = tmp_path / "imported"
    import_ensemble([a, a], out, ["a", "b"])
    config = EnsembleConfig(
        dataset=DatasetSpec(name="dsprites", image_size=16),
        net=NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=16),
        latent_dim=2,
        betas=(1.0,),
        seeds=1,
        train=TrainConfig(steps=1, batch_size=4, threads=1, device="cpu"),
        probe_size=8,
    )
    with pytest.raises(EnsembleError, match="holds imported runs"):
        run_ensemble(config, out, jobs=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "manifest.json", "probe.safetensors"]


def test_cli_import_then_analyze(tmp_path):
    runner = CliRunner()
    n = 24  # the analysis' fusion runs its full default budget: keep the probe set small
    paths = [str(write_run(tmp_path / f"run{k}.npz", run_arrays(k, n, 3 - k))) for k in range(2)]
    out = tmp_path / "ensembles" / "runs-ab"
    result = runner.invoke(app, ["ensemble", "import", *paths, "--out", str(out), "--names", "a, b"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"out": str(out), "members": {"a": 3, "b": 2}, "probe_size": n}
    result = runner.invoke(app, ["ensemble", "analyze", str(out)])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["members"] == 2 and line["channels"] == 5 and line["min_samples"] == 2
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["fusion"]["channels"] == 3 and len(analysis["nmi_factor"]) == 5

    again = runner.invoke(app, ["ensemble", "import", *paths, "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output
    missing = runner.invoke(
        app, ["ensemble", "import", paths[0], str(tmp_path / "c.npz"), "--out", str(tmp_path / "x")]
    )
    assert missing.exit_code == 2 and "c.npz: no such file" in missing.output and "Traceback" not in missing.output
    assert not (tmp_path / "x").exists()
