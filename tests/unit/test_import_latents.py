"""``latentatlas import latents``: a run's saved latents become an encoder-only model folder with
a metrics card (the same scores as ``compute_metrics`` on the file); bad files are clear errors
that leave nothing behind."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.metrics import compute_metrics
from latentatlas.store.folders import load_model_folder

N, D = 120, 4
FACTOR_NAMES = ["shape", "size", "x"]


def _run(seed: int = 0) -> dict[str, np.ndarray]:
    """Latents that carry three factors (plus noise), and 12 x 12 binary images."""
    rng = np.random.default_rng(seed)
    y = np.stack([rng.integers(0, 3, N), rng.integers(0, 4, N), rng.integers(0, 5, N)], axis=1)
    z = np.concatenate([y + 0.1 * rng.standard_normal(y.shape), rng.standard_normal((N, 1))], axis=1).astype(np.float32)
    images = (rng.random((N, 12, 12)) > 0.5).astype(np.uint8)
    return {"z": z, "y": y, "factor_names": np.array(FACTOR_NAMES), "images": images}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _import(runner, tmp_path, arrays: dict, name: str = "run") -> tuple:
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    out = tmp_path / "models" / name
    return runner.invoke(app, ["import", "latents", str(path), "--out", str(out)]), out


def test_saved_latents_become_a_scored_model_folder(runner, tmp_path):
    arrays = _run()
    result, out = _import(runner, tmp_path, arrays)
    assert result.exit_code == 0, result.output
    loaded = load_model_folder(out)
    metrics = loaded.card["metrics"]
    expected = compute_metrics(arrays["z"], arrays["y"])
    assert metrics["values"]["mig"] == pytest.approx(expected["mig"]) and metrics["factor_names"] == FACTOR_NAMES
    assert len(metrics["matrices"]["infomec_nmi"]) == 3 and metrics["latent_dim"] == D
    assert loaded.card["dataset"]["factor_sizes"] == [3, 4, 5] and loaded.card["dataset"]["size"] == N
    caps = loaded.model.capabilities
    assert caps.encode and not caps.decode and not caps.train
    assert json.loads(result.stdout)["metrics"]["mig"] == pytest.approx(expected["mig"])


def test_encode_looks_a_saved_image_up(runner, tmp_path):
    arrays = _run()
    result, out = _import(runner, tmp_path, arrays)
    assert result.exit_code == 0, result.output
    model = load_model_folder(out).model
    rows = [5, 17, 99]
    images = torch.from_numpy(arrays["images"][rows]).float()[:, None]
    assert torch.equal(model.encode(images).latent, torch.from_numpy(arrays["z"][rows]))
    assert torch.equal(model.factors[rows], torch.from_numpy(arrays["y"][rows]))


def test_without_images_nothing_encodes(runner, tmp_path):
    arrays = {k: v for k, v in _run().items() if k != "images"}
    arrays |= {"dataset": np.array("dsprites"), "indices": np.arange(N) * 7}
    result, out = _import(runner, tmp_path, arrays)
    assert result.exit_code == 0, result.output
    loaded = load_model_folder(out)
    assert not loaded.model.capabilities.encode and not loaded.model.capabilities.decode
    assert loaded.config.dataset.name == "dsprites" and loaded.model.indices.tolist() == (np.arange(N) * 7).tolist()


def _pickled(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, z=np.array([{"a": 1}] * N, dtype=object), y=_run()["y"])
    return path


BAD = [
    ("mismatched n", lambda a: a | {"y": a["y"][:-3]}, ["z is [120, 4] and y [117, 3]"]),
    ("nan latents", lambda a: a | {"z": np.where(np.arange(N)[:, None] == 7, np.nan, a["z"])}, ["nan", "row 7"]),
    ("integer latents", lambda a: a | {"z": a["z"].astype(np.int32)}, ["z is int32", "floats"]),
    ("float factors", lambda a: a | {"y": a["y"].astype(np.float32)}, ["y is float32", "integers"]),
    ("no y", lambda a: {"z": a["z"]}, ["missing", "y"]),
    ("names", lambda a: a | {"factor_names": np.array(["a", "b"])}, ["factor_names must be 3 strings"]),
    ("images", lambda a: a | {"images": a["images"][:, :, :5]}, ["images is [120, 12, 5]"]),
    ("unknown", lambda a: a | {"extra": np.zeros(3)}, ["unknown array", "extra"]),
    ("constant factor", lambda a: a | {"y": np.zeros_like(a["y"])}, ["single value"]),
    ("indices alone", lambda a: a | {"dataset": np.array("dsprites")}, ["without indices"]),
]


@pytest.mark.parametrize(("name", "change", "words"), BAD, ids=[case[0] for case in BAD])
def test_bad_latents_are_clear_errors(runner, tmp_path, name, change, words):
    result, _ = _import(runner, tmp_path, change(_run()))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "run.npz" in result.output and all(word.lower() in result.output.lower() for word in words), result.output
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_unreadable_files_are_clear_errors(runner, tmp_path):
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    for path, word in [
        (_pickled(tmp_path), "pickled"),
        (text, "not a readable .npz"),
        (tmp_path / "absent.npz", "no such file"),
    ]:
        result = runner.invoke(app, ["import", "latents", str(path), "--out", str(tmp_path / "models" / "x")])
        assert result.exit_code == 2 and path.name in result.output and word in result.output, result.output
    assert not (tmp_path / "models").exists()


def test_evaluate_refuses_saved_latents_with_a_clear_error(runner, tmp_path):
    result, out = _import(runner, tmp_path, {k: v for k, v in _run().items() if k != "images"})
    assert result.exit_code == 0, result.output
    evaluated = runner.invoke(app, ["evaluate", str(out), "--samples", "60", "--threads", "1"])
    assert evaluated.exit_code == 2 and "no encoder" in evaluated.output
    assert isinstance(evaluated.exception, SystemExit)
