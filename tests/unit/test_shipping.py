"""Shipping a trained model (`latentatlas ship`): float16 weights, without the parts only training
uses (a contrastive encoder's projector, predictor and target network), that still load and
encode as the trained model does; other families lose nothing, and a missing part that is not
training-only still fails the load."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import build_model, model_config
from latentatlas.families.configs import WEIGHTS_FILE
from latentatlas.nets import NetConfig
from latentatlas.store.folders import CARD_FILE, FolderConfig, load_model_folder, save_model_folder

NET16 = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
HEADS = {
    "byol": {"projector_hidden": 32, "projector_dim": 16, "predictor_hidden": 32},
    "simsiam": {"projector_dim": 32, "predictor_hidden": 8},
    "barlow": {"projector_dim": 32},
    "ae": {},
    "factorvae": {"discriminator_layers": 2, "discriminator_width": 16},
}


def _saved(tmp_path, kind: str):
    torch.manual_seed(0)
    config = model_config(kind=kind, latent_dim=8, net=NET16, **HEADS[kind])
    model = build_model(config).eval()
    folder = tmp_path / kind
    save_model_folder(
        folder, FolderConfig(model=config, dataset=DatasetSpec(name="dsprites", image_size=16)), model, {}
    )
    return folder, model


@pytest.mark.parametrize("kind", ["byol", "simsiam", "barlow"])
def test_a_shipped_contrastive_encoder_keeps_its_backbone_in_float16_and_encodes_as_trained(tmp_path, kind):
    folder, trained = _saved(tmp_path, kind)
    before = load_file(str(folder / WEIGHTS_FILE))
    result = CliRunner().invoke(app, ["ship", str(folder)])
    assert result.exit_code == 0, result.output
    shipped = load_file(str(folder / WEIGHTS_FILE))
    assert set(shipped) == {key for key in before if key.startswith("backbone.")}
    assert all(tensor.dtype == torch.float16 for tensor in shipped.values())
    assert "left out, as only training uses them" in json.loads((folder / CARD_FILE).read_text())["shipped"]["weights"]
    images = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    loaded = load_model_folder(folder).model
    with torch.inference_mode():
        expected, got = trained.encode(images).latent, loaded.encode(images).latent
    assert torch.allclose(got, expected, atol=2e-2 * float(expected.abs().max()))


def test_a_shipped_factorvae_leaves_its_discriminator_out_and_decodes_as_trained(tmp_path):
    folder, trained = _saved(tmp_path, "factorvae")
    assert CliRunner().invoke(app, ["ship", str(folder)]).exit_code == 0
    shipped = load_file(str(folder / WEIGHTS_FILE))
    assert shipped and not any(key.startswith("discriminator.") for key in shipped)
    latents = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected, got = trained.decode(latents), load_model_folder(folder).model.decode(latents)
    assert torch.allclose(got, expected, atol=2e-2)


def test_a_family_without_training_only_parts_ships_every_weight(tmp_path):
    folder, _ = _saved(tmp_path, "ae")
    before = load_file(str(folder / WEIGHTS_FILE))
    assert CliRunner().invoke(app, ["ship", str(folder)]).exit_code == 0
    assert set(load_file(str(folder / WEIGHTS_FILE))) == set(before)
    assert "left out" not in json.loads((folder / CARD_FILE).read_text())["shipped"]["weights"]


def test_a_missing_backbone_weight_still_fails_the_load(tmp_path):
    folder, _ = _saved(tmp_path, "byol")
    weights = load_file(str(folder / WEIGHTS_FILE))
    missing = next(key for key in weights if key.startswith("backbone."))
    save_file({key: value for key, value in weights.items() if key != missing}, str(folder / WEIGHTS_FILE))
    with pytest.raises(RuntimeError, match=missing.replace(".", r"\.")):
        load_model_folder(folder)


def test_ship_names_a_folder_that_is_not_a_model(tmp_path):
    result = CliRunner().invoke(app, ["ship", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "not a model folder" in result.output
