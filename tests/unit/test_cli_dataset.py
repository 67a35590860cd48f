"""``latentatlas dataset check`` on every format (its JSON and its refusals), and ``latentatlas train``
on an official-format dSprites file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli_helpers import train_command
from dataset_files import write_celeba, write_dsprites, write_mpi3d, write_shapes3d
from latentatlas.cli import app
from latentatlas.store import load_model_folder

SUMMARY_KEYS = {"dataset", "images", "image_shape", "factors"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def dsprites_file(tmp_path_factory):
    return write_dsprites(
        tmp_path_factory.mktemp("d") / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
        (1, 3, 2, 4, 4, 4),
    )


def _check(runner, *args: str) -> dict:
    result = runner.invoke(app, ["dataset", "check", *args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == SUMMARY_KEYS and all(set(f) == {"name", "size"} for f in summary["factors"])
    return summary


def test_check_dsprites_json(runner, dsprites_file):
    summary = _check(runner, "dsprites", "--data-path", str(dsprites_file))
    assert summary == {
        "dataset": "dsprites",
        "images": 384,
        "image_shape": [64, 64, 1],
        "factors": [
            {"name": n, "size": s} for n, s in zip(["shape", "scale", "orientation", "posX", "posY"], [3, 2, 4, 4, 4])
        ],
    }


def test_check_shapes3d_and_celeba_json(runner, tmp_path):
    shapes = _check(
        runner,
        "shapes3d",
        "--data-path",
        str(write_shapes3d(tmp_path / "3dshapes.h5", (2, 2, 2, 2, 2, 3))),
    )
    assert (
        shapes["images"] == 96
        and shapes["image_shape"] == [64, 64, 3]
        and shapes["factors"][-1] == {"name": "orientation", "size": 3}
    )
    celeba = _check(runner, "celeba", "--data-path", str(write_celeba(tmp_path / "celeba", 6)))
    assert celeba["images"] == 6 and len(celeba["factors"]) == 40 and celeba["factors"][0]["size"] == 2


def test_check_mpi3d_json(runner, tmp_path):
    summary = _check(
        runner,
        "mpi3d",
        "--data-path",
        str(write_mpi3d(tmp_path / "mpi3d_toy.npz", 460_800, marked=np.array([0]))),
    )
    assert summary["images"] == 460_800 and [f["size"] for f in summary["factors"]] == [
        4,
        4,
        2,
        3,
        3,
        40,
        40,
    ]


def test_check_folders_with_and_without_factors(runner, tmp_path):
    for i in range(4):
        Image.new("RGB", (10, 10), (60 * i, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "factors.csv").write_text("file,red\n0.png,0\n1.png,1\n2.png,2\n3.png,3\n")
    plain = _check(runner, "folder", "--data-path", str(tmp_path), "--channels", "1")
    assert plain == {
        "dataset": "folder",
        "images": 4,
        "image_shape": [64, 64, 1],
        "factors": [],
    }
    labelled = _check(
        runner,
        "folder",
        "--data-path",
        str(tmp_path),
        "--factors",
        str(tmp_path / "factors.csv"),
    )
    assert labelled["factors"] == [{"name": "red", "size": 4}]


def test_check_prints_a_readable_summary(runner, dsprites_file):
    result = runner.invoke(app, ["dataset", "check", "dsprites", "--data-path", str(dsprites_file)])
    assert result.exit_code == 0
    assert "dsprites, 384 images of 64 x 64 x 1" in result.stdout and "orientation: 4 values" in result.stdout


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("dsprites", b"plain text", "not an .npz archive"),
        ("shapes3d", b"plain text", "not an HDF5 file"),
        ("mpi3d", b"PK\x03\x04 cut short", "not an .npz archive, or a truncated one"),
    ],
)
def test_check_refuses_bad_files_with_exit_2_and_no_traceback(runner, tmp_path, name, content, message):
    path = tmp_path / "data.file"
    path.write_bytes(content)
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["dataset", "check", name, "--data-path", str(path), *extra])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
        assert f"error: {path}: {message}" in result.output and "Traceback" not in result.output
        assert result.stdout.strip() == ""  # no summary: the error goes to stderr


def test_check_needs_a_data_path(runner):
    result = runner.invoke(app, ["dataset", "check", "mpi3d"])
    assert result.exit_code == 2 and "--data-path" in result.output


def test_train_five_steps_on_an_official_format_dsprites_file(runner, dsprites_file, tmp_path):
    out = tmp_path / "vae-dsprites-file"
    result = runner.invoke(
        app,
        train_command("vae", out, "--dataset", "dsprites", "--data-path", str(dsprites_file), "--steps", "5"),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["steps"] == 5
    loaded = load_model_folder(out)
    assert loaded.config.dataset.path == str(dsprites_file) and loaded.config.model.net.channels == 1
    assert loaded.config.model.latent_dim == 10 and loaded.config.model.dataset_size == 384
    assert loaded.card["dataset"]["factor_sizes"] == [3, 2, 4, 4, 4] and loaded.card["dataset"]["path"] == str(
        dsprites_file
    )


def test_train_on_a_bad_file_is_a_usage_error_and_writes_nothing(runner, tmp_path):
    path = tmp_path / "3dshapes.h5"
    path.write_text("not hdf5")
    out = tmp_path / "never"
    result = runner.invoke(
        app,
        train_command("ae", out, "--dataset", "shapes3d", "--data-path", str(path), "--steps", "1"),
    )
    assert result.exit_code == 2 and "not an HDF5 file" in result.output and isinstance(result.exception, SystemExit)
    assert not out.exists()
