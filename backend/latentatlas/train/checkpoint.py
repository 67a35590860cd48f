"""Model folders and resumable checkpoints, in safetensors and JSON only (never pickles).

A model folder holds ``config.json`` (model, dataset and training configs),
``weights.safetensors`` and ``card.json`` (what was trained, how, and how well).
A checkpoint (``checkpoint/`` inside the output folder while training) adds the optimiser's
moment tensors and the RNG states, so ``--resume`` continues the same run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel
from safetensors.torch import load_file, save_file

from latentatlas.data.base import DatasetSpec
from latentatlas.nets import LatentModel, ModelConfig, build_model

CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "weights.safetensors", "card.json"


class FolderConfig(BaseModel):
    """Everything needed to rebuild a model and its data: the content of ``config.json``."""

    model: ModelConfig
    dataset: DatasetSpec
    train: dict = {}


@dataclass
class LoadedModel:
    folder: Path
    config: FolderConfig
    model: LatentModel
    card: dict


def write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)


def _contiguous_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}


def save_model_folder(folder: Path, config: FolderConfig, model: LatentModel, card: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / CONFIG_FILE, config.model_dump(mode="json"))
    save_file(_contiguous_state(model), str(folder / WEIGHTS_FILE))
    write_json(folder / CARD_FILE, card)


def load_model_folder(folder: Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild a model from its folder; raises ValueError/OSError when files are missing or corrupt."""
    folder = Path(folder)
    config = FolderConfig.model_validate_json((folder / CONFIG_FILE).read_text())
    model = build_model(config.model)
    state = load_file(str(folder / WEIGHTS_FILE))
    model.load_state_dict(state, strict=True)
    card_path = folder / CARD_FILE
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    return LoadedModel(folder, config, model.to(device).eval(), card)


def save_checkpoint(
    path: Path,
    model: LatentModel,
    optimizer: torch.optim.Optimizer,
    step: int,
    history: dict,
    rng: np.random.Generator,
    pending: dict[str, float],
) -> None:
    """Model, optimiser moments, RNG states and the loss sums not yet logged at ``step``."""
    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in _contiguous_state(model).items()}
    opt_state = optimizer.state_dict()
    for index, state in opt_state["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(path / "state.safetensors"))
    write_json(
        path / "state.json",
        {
            "step": step,
            "history": history,
            "pending": pending,
            "numpy_rng": rng.bit_generator.state,
            "param_groups": opt_state["param_groups"],
        },
    )


def load_checkpoint(
    path: Path, model: LatentModel, optimizer: torch.optim.Optimizer, rng: np.random.Generator
) -> tuple[int, dict, dict[str, float]]:
    """Restore what ``save_checkpoint`` wrote; returns (step, history, pending loss sums)."""
    meta = json.loads((path / "state.json").read_text())
    tensors = load_file(str(path / "state.safetensors"))
    device = next(model.parameters()).device
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value if name == "step" else value.to(device)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    rng.bit_generator.state = meta["numpy_rng"]
    return int(meta["step"]), meta["history"], meta.get("pending", {})
