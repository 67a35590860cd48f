"""One-time conversions of model folders (store/upgrade.py): an EOFlow saved with a dense
principal rotation and running entropy estimates loads, after the upgrade, with the same
rotation (to float16 reflector precision), the same order and entropies from those estimates."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file, save_file

from latentatlas.data.spec import DatasetSpec
from latentatlas.families import build_model, model_config
from latentatlas.families.eoflow import HALF_LOG_2PI
from latentatlas.nets import NetConfig
from latentatlas.store.folders import CONFIG_FILE, WEIGHTS_FILE, FolderConfig, load_model_folder
from latentatlas.store.upgrade import main, upgrade_weights


def _old_eoflow_folder(tmp_path):
    """A folder as the code before the float16 reflectors wrote it: ``...rotation`` (D, D) and
    ``quad_ema`` / ``log_norm_ema`` / ``log_norm_seen`` instead of ``entropy`` / ``entropy_se``."""
    torch.manual_seed(0)
    config = model_config(
        kind="eoflow",
        latent_dim=64,
        net=NetConfig(image_size=8, channels=1, widths=(8,)),
        flow_levels=1,
        flow_blocks=1,
        flow_hidden=8,
    )
    model = build_model(config)
    model.initialize(torch.rand(256, 1, 8, 8))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    prefix = "flow.flows.1."
    rotation = model.flow.flows[1].rotation.clone()
    for name in ("reflectors", "signs"):
        del state[prefix + name]
    state[prefix + "rotation"] = rotation
    del state["entropy"], state["entropy_se"]
    quad, log_norm = torch.rand(64), torch.randn(64)
    state.update(quad_ema=quad, log_norm_ema=log_norm, log_norm_seen=torch.full((64,), 3.0))
    state["order"] = torch.randperm(64)
    state["inverse_order"] = torch.argsort(state["order"])
    folder = tmp_path / "old-flow"
    folder.mkdir()
    save_file(state, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(
        json.dumps(
            FolderConfig(model=config, dataset=DatasetSpec(name="dsprites", image_size=8)).model_dump(mode="json")
        )
    )
    return folder, rotation, quad + HALF_LOG_2PI + log_norm, state["order"]


def test_an_old_eoflow_folder_upgrades_to_float16_reflectors_and_loads(tmp_path):
    folder, rotation, entropy, order = _old_eoflow_folder(tmp_path)
    assert main([str(tmp_path)]) == 0
    state = load_file(str(folder / WEIGHTS_FILE))
    assert "flow.flows.1.rotation" not in state and "quad_ema" not in state
    assert state["flow.flows.1.reflectors"].dtype == torch.float16
    loaded = load_model_folder(folder).model
    assert (loaded.flow.flows[1].rotation - rotation).abs().max() < 1e-3
    assert torch.equal(loaded.order, order)
    assert torch.allclose(loaded.explained_entropy(), entropy[order])
    assert not loaded.explained_entropy_se().any()  # unknown until `latentatlas finalize`
    assert not upgrade_weights(folder / WEIGHTS_FILE)  # already in the new form
