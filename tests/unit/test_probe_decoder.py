"""The probe decoder (latentatlas probe-decoder): trained on a frozen encoder's latents, seeded,
stored beside the model with its card section, read back exactly; refused, with a clear message,
for a folder whose model cannot encode."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from import_helpers import VAE_FOLDER
from latentatlas.cli import app
from latentatlas.imports import import_latents
from latentatlas.store.folders import load_model_folder
from latentatlas.store.probe_decoder import CARD_SECTION, PROBE_FILE, load_probe_decoder, probe_label
from latentatlas.train.probe_decoder import train_probe_decoder


@pytest.fixture(scope="module")
def vae_copy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe") / "vae"
    shutil.copytree(VAE_FOLDER, folder)
    return folder


def test_the_cli_writes_the_probe_and_its_card_section_without_touching_the_model(vae_copy):
    weights = (vae_copy / "weights.safetensors").read_bytes()
    result = CliRunner().invoke(app, ["probe-decoder", str(vae_copy), "--steps", "3", "--threads", "1"])
    assert result.exit_code == 0, result.output
    section = json.loads((vae_copy / "card.json").read_text())[CARD_SECTION]
    assert section["steps"] == 3
    assert section["file"] == PROBE_FILE
    assert section["label"] == probe_label(section)
    assert "not the model's own" in section["label"]
    assert (vae_copy / "weights.safetensors").read_bytes() == weights  # the encoder stays frozen
    loaded = load_model_folder(vae_copy)
    probe = load_probe_decoder(vae_copy, loaded.config.model.net, loaded.config.model.latent_dim)
    with torch.no_grad():
        images = probe(torch.zeros(2, loaded.config.model.latent_dim))
    assert images.shape == (2, 1, 64, 64)
    assert float(images.min()) >= 0
    assert float(images.max()) <= 1


def test_training_is_seeded(vae_copy):
    loaded = load_model_folder(vae_copy)
    first, second = (train_probe_decoder(loaded, steps=2, seed=5)[0] for _ in range(2))
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name


def test_a_model_that_cannot_encode_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, (20, 2))
    np.savez(tmp_path / "run.npz", z=y.astype(np.float32), y=y)
    import_latents(tmp_path / "run.npz", tmp_path / "latents")
    result = CliRunner().invoke(app, ["probe-decoder", str(tmp_path / "latents"), "--steps", "2"])
    assert result.exit_code == 2
    assert "cannot encode" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "latents" / PROBE_FILE).exists()
