"""The ``latentatlas`` command line (typer): help, ``train`` with tiny settings, ``--resume``,
and refusals of settings that cannot work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli_helpers import TINY, train_command
from latentatlas.cli import app
from latentatlas.store import load_model_folder


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _json_line(stdout: str) -> dict:
    """The summary line ``train`` prints last on stdout (the progress bar goes to stderr)."""
    return json.loads(stdout.strip().splitlines()[-1])


def test_help_lists_the_commands(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output and "train" in result.output


def test_no_arguments_shows_help(runner):
    result = runner.invoke(app, [])
    assert "serve" in result.output and "train" in result.output


def test_train_help_lists_every_trainable_family(runner):
    from latentatlas.families import families

    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for kind, family in families().items():
        assert (kind in result.output.split()) == family.capabilities.train, kind


def test_a_family_help_shows_its_own_options_only(runner):
    qlae = runner.invoke(app, ["train", "qlae", "--help"]).output
    vae = runner.invoke(app, ["train", "vae", "--help"]).output
    for option in ("--out", "--dataset", "--widths", "--steps", "--resume", "--seed"):
        assert option in qlae and option in vae
    assert "--codebook-size" in qlae and "--codebook-size" not in vae
    assert "--beta" in vae and "--beta" not in qlae


def test_train_writes_a_model_folder_and_prints_a_summary(runner, tmp_path):
    out = tmp_path / "qlae-tiny"
    result = runner.invoke(app, ["train", "qlae", "--out", str(out), "--steps", "4", "--checkpoint-every", "2", *TINY])
    assert result.exit_code == 0, result.output
    summary = _json_line(result.stdout)
    assert summary["steps"] == 4 and summary["out"] == str(out)
    assert summary["wall_seconds"] >= 0
    assert {"psnr_db", "iou", "samples"} <= set(summary["heldout"])
    for name in ("config.json", "weights.safetensors", "card.json", "reconstructions.png"):
        assert (out / name).is_file(), name
    loaded = load_model_folder(out)
    assert loaded.config.model.kind == "qlae"
    assert loaded.config.model.latent_dim == 10  # default: twice dSprites' five factors
    assert loaded.config.model.net.widths == (8, 8)
    assert loaded.config.model.net.channels == 1
    assert loaded.card["steps"] == 4


def test_train_vae_on_shapes3d(runner, tmp_path):
    out = tmp_path / "vae"
    result = runner.invoke(
        app,
        [
            "train",
            "vae",
            "--out",
            str(out),
            "--dataset",
            "shapes3d",
            "--latent-dim",
            "5",
            "--beta",
            "2",
            "--steps",
            "2",
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.output
    loaded = load_model_folder(out)
    assert loaded.config.model.kind == "vae" and loaded.config.model.beta == 2
    assert loaded.config.model.latent_dim == 5 and loaded.config.model.net.channels == 3
    assert "iou" not in _json_line(result.stdout)["heldout"]


def test_resume_continues_the_run(runner, tmp_path):
    out = tmp_path / "resumable"
    first = runner.invoke(app, ["train", "qlae", "--out", str(out), "--steps", "4", "--checkpoint-every", "2", *TINY])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["train", "qlae", "--out", str(out), "--steps", "6", "--resume", *TINY])
    assert second.exit_code == 0, second.output
    assert _json_line(second.stdout)["steps"] == 6
    card = load_model_folder(out).card
    assert card["steps"] == 6
    assert card["curves"]["step"] == [4, 6]  # the first run's end point is kept, then the continuation
    state = json.loads((out / "checkpoint" / "step-6" / "state.json").read_text())
    assert state["step"] == 6


def test_without_resume_a_run_starts_over(runner, tmp_path):
    out = tmp_path / "again"
    assert runner.invoke(app, ["train", "qlae", "--out", str(out), "--steps", "4", *TINY]).exit_code == 0
    result = runner.invoke(app, ["train", "qlae", "--out", str(out), "--steps", "2", *TINY])
    assert result.exit_code == 0, result.output
    assert load_model_folder(out).card["steps"] == 2


def test_train_rejects_non_integer_widths(runner, tmp_path):
    result = runner.invoke(
        app, ["train", "qlae", "--out", str(tmp_path / "x"), "--steps", "1", *TINY[:2], "--widths", "8,wide"]
    )
    assert result.exit_code == 2  # a usage error
    assert "wide" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("value", ["nope", "0", "-3"])
def test_train_rejects_bad_option_values(runner, tmp_path, value):
    result = runner.invoke(app, ["train", "qlae", "--out", str(tmp_path / "x"), "--steps", value, *TINY])
    assert result.exit_code != 0
    assert not (tmp_path / "x" / "weights.safetensors").exists()


def test_train_rejects_an_unknown_model_kind(runner, tmp_path):
    result = runner.invoke(app, ["train", "gan", "--out", str(tmp_path / "x"), *TINY])
    assert result.exit_code == 2 and "gan" in result.output


def test_train_rejects_widths_that_do_not_fit_the_image_size_before_training(runner, tmp_path):
    """Non-zero exit naming the problem, and no model folder."""
    result = runner.invoke(
        app, ["train", "qlae", "--out", str(tmp_path / "x"), "--steps", "1", "--image-size", "32", "--widths", "8,8"]
    )
    assert result.exit_code != 0
    message = result.output + str(result.exception or "")
    assert "widths" in message and "32" in message
    assert not (tmp_path / "x" / "weights.safetensors").exists()


def test_widths_that_do_not_fit_are_a_usage_error(runner, tmp_path):
    result = runner.invoke(
        app, ["train", "qlae", "--out", str(tmp_path / "x"), "--steps", "1", "--image-size", "32", "--widths", "8,8"]
    )
    assert result.exit_code == 2
    assert "widths" in result.output


def _folder(root, count: int):
    root.mkdir()
    for i in range(count):
        Image.new("RGB", (20 + i, 24), (10 * i, 100, 200 - 10 * i)).save(root / f"{i:02d}.png")
    return root


def _train_on_folder(folder, out, *options: str) -> list[str]:
    """``latentatlas train ae --dataset folder --data-path FOLDER OPTIONS...``, tiny."""
    return train_command("ae", out, "--dataset", "folder", "--data-path", str(folder), *options)


def test_train_on_an_image_folder(runner, tmp_path):
    folder = _folder(tmp_path / "photos", 20)
    out = tmp_path / "folder-model"
    result = runner.invoke(app, _train_on_folder(folder, out, "--steps", "2"))
    assert result.exit_code == 0, result.output
    loaded = load_model_folder(out)
    assert loaded.config.dataset.name == "folder" and loaded.config.dataset.path == str(folder)
    assert loaded.config.model.net.channels == 3 and loaded.config.model.latent_dim == 10


def test_train_on_a_greyscale_image_folder(runner, tmp_path):
    folder = _folder(tmp_path / "photos", 20)
    out = tmp_path / "grey"
    result = runner.invoke(app, _train_on_folder(folder, out, "--channels", "1", "--steps", "2"))
    assert result.exit_code == 0, result.output
    assert load_model_folder(out).config.model.net.channels == 1


def test_train_on_a_tiny_image_folder(runner, tmp_path):
    folder = _folder(tmp_path / "few", 5)
    out = tmp_path / "few-model"
    result = runner.invoke(app, _train_on_folder(folder, out, "--steps", "2"))
    assert result.exit_code == 0, repr(result.exception)
    assert (out / "weights.safetensors").is_file()


def test_train_on_a_missing_folder_is_refused(runner, tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            "qlae",
            "--out",
            str(tmp_path / "x"),
            "--dataset",
            "folder",
            "--data-path",
            str(tmp_path / "missing"),
            "--steps",
            "1",
            *TINY,
        ],
    )
    assert result.exit_code != 0
    assert not (tmp_path / "x" / "weights.safetensors").exists()


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_metrics_json_has_exactly_the_requested_keys_and_reference_values(runner):
    expected = json.loads((FIXTURES / "metrics-public.expected.json").read_text())
    result = runner.invoke(
        app, ["metrics", str(FIXTURES / "metrics-public.npz"), "--metrics", "mig,sap,modularity,explicitness", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"mig", "sap", "modularity", "explicitness_train", "explicitness_test"}
    for key in ("mig", "modularity"):
        assert abs(payload[key] - expected[key]["ref"]) < 1e-6
    assert abs(payload["sap"] - expected["sap"]["ref"]) < 1e-3
    assert abs(payload["explicitness_test"] - expected["explicitness_test"]["ref"]) < 1e-4


def test_metrics_table_names_every_metric(runner):
    result = runner.invoke(app, ["metrics", str(FIXTURES / "metrics-public.npz"), "--metrics", "mig,sap_continuous"])
    assert result.exit_code == 0, result.output
    assert "mig" in result.stdout and "sap_continuous" in result.stdout


def test_metrics_bad_files_exit_non_zero_with_a_message(runner, tmp_path):
    np.savez(tmp_path / "no_y.npz", z=np.zeros((30, 3)))
    z = np.random.default_rng(0).normal(size=(30, 3))
    np.savez(tmp_path / "nan.npz", z=np.where(np.arange(3) == 1, np.nan, z), y=np.tile([[0, 1], [1, 0]], (15, 1)))
    np.savez(tmp_path / "constant.npz", z=z, y=np.zeros((30, 2), dtype=int))
    (tmp_path / "text.npz").write_text("not an archive")
    for name, keyword in [
        ("no_y.npz", "missing"),
        ("nan.npz", "nan"),
        ("constant.npz", "single value"),
        ("text.npz", "npz"),
    ]:
        result = runner.invoke(app, ["metrics", str(tmp_path / name), "--json"])
        assert result.exit_code == 2, (name, result.output)
        assert keyword in result.output.lower(), (name, result.output)
    unknown = runner.invoke(app, ["metrics", str(FIXTURES / "metrics-public.npz"), "--metrics", "bogus"])
    assert unknown.exit_code == 2 and "bogus" in unknown.output


# -- traverse: exports for papers ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_qlae(tmp_path_factory) -> Path:
    """A QLAE on 16-pixel dSprites, 5 training steps: 4 latents, codebooks of 5."""
    from latentatlas.data.spec import DatasetSpec
    from latentatlas.families import model_config
    from latentatlas.nets import NetConfig
    from latentatlas.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("cli-traverse") / "tiny"
    train(
        model_config(
            kind="qlae",
            latent_dim=4,
            codebook_size=5,
            net=NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=16),
        ),
        DatasetSpec(name="dsprites", image_size=16),
        TrainConfig(steps=5, batch_size=8, threads=1, device="cpu", log_every=5, checkpoint_every=5, seed=0),
        folder,
        progress=False,
    )
    return folder


def _traverse(runner, folder: Path, out: Path, *options: str):
    return runner.invoke(app, ["traverse", str(folder), "--out", str(out), "--device", "cpu", *options])


def test_traverse_writes_the_servers_png_export(runner, tiny_qlae, tmp_path):
    """The CLI's PNG is byte for byte the server's export of the same dataset image's latent."""
    import torch

    from latentatlas.serve.services.core import ModelService
    from latentatlas.serve.services.exports import traverse_export

    out = tmp_path / "figures" / "grid.png"
    result = _traverse(runner, tiny_qlae, out, "--dataset-index", "3", "--dims", "0,2", "--scale", "2")
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout and "dataset image 3" in result.stdout
    service = ModelService(load_model_folder(tiny_qlae), torch.device("cpu"))
    latent = service.encode(service.dataset_images([3])).latent
    assert out.read_bytes() == traverse_export(service, latent, [0, 2], 11, 1024, "png", 2)
    with Image.open(out) as grid:
        header = grid.height - 2 * 32  # two dims of 16-pixel tiles at scale 2 under the header
        assert grid.format == "PNG" and 0 < header < 32 and grid.width > 5 * 32  # five codes: five columns


def test_traverse_gif_from_the_prior_centre_and_from_an_image(runner, tiny_qlae, tmp_path, image_bytes):
    centre = tmp_path / "centre.gif"
    result = _traverse(runner, tiny_qlae, centre)
    assert result.exit_code == 0, result.output
    assert "prior centre" in result.stdout
    with Image.open(centre) as gif:
        assert gif.format == "GIF" and gif.n_frames == 5  # one frame per code
        rows = gif.size
    picture = tmp_path / "square.png"
    square = np.zeros((40, 40), dtype=np.uint8)
    square[10:30, 10:30] = 255
    picture.write_bytes(image_bytes(square))
    from_image = tmp_path / "image.gif"
    result = _traverse(runner, tiny_qlae, from_image, "--image", str(picture))
    assert result.exit_code == 0, result.output
    assert str(picture) in result.stdout
    with Image.open(from_image) as gif:
        assert gif.n_frames == 5 and gif.size == rows  # every dim (4) as a row, default scale 4 (64-pixel tiles)
        assert gif.height > 4 * 64


@pytest.mark.parametrize(
    ("options", "keyword"),
    [
        (["--out-suffix", ".jpg"], ".png"),
        (["--image", "x.png", "--dataset-index", "0"], "not both"),
        (["--dims", "0,a"], "integers"),
        (["--dims", "9"], "dimension 9"),
        (["--steps", "1"], "steps"),
        (["--image", "missing.png"], "missing.png"),
        (["--image", "not-an-image.png"], "not a supported image"),
    ],
)
def test_traverse_refusals_exit_with_a_message(runner, tiny_qlae, tmp_path, options, keyword):
    (tmp_path / "not-an-image.png").write_text("hello")
    out = tmp_path / "out.png"
    if options[0] == "--out-suffix":
        out, options = out.with_suffix(options[1]), []
    options = [str(tmp_path / o) if o.endswith(".png") else o for o in options]
    result = _traverse(runner, tiny_qlae, out, *options)
    assert result.exit_code == 2, result.output
    assert keyword in result.output, result.output
    assert not out.exists()
