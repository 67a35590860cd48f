"""Resumable training checkpoints: the model, every optimiser of the family's trainer (by name,
with its moments), the RNG states (torch CPU and CUDA, numpy), the step counter, the loss
history and the loss sums not yet logged, so that ``--resume`` continues the same run.

A checkpoint is one safetensors file (tensors) plus one JSON file (the rest), both inside a
folder ``step-N`` that is complete before the pointer file ``latest`` names it: a crash at
any moment leaves the previous checkpoint readable. Older step folders are removed only after
the pointer moves.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from latentatlas.families.base import LatentModel, Trainer
from latentatlas.store.folders import model_state, write_json, write_safetensors, write_text

POINTER_FILE = "latest"
TENSORS_FILE, META_FILE = "state.safetensors", "state.json"
SNAPSHOT_DIR = "snapshots"
"""A model folder's weights-only snapshots along training (``step-N.safetensors``), for metric
curves; never shipped (a run is deterministic: retraining makes them again)."""


def has_checkpoint(path: Path) -> bool:
    return (Path(path) / POINTER_FILE).is_file()


def save_checkpoint(
    path: Path,
    model: LatentModel,
    trainer: Trainer,
    step: int,
    history: dict[str, list[float]],
    rng: np.random.Generator,
    pending: dict[str, float],
) -> None:
    """Write the state at ``step`` as ``path/step-N`` and point ``path/latest`` at it."""
    path = Path(path)
    folder = path / f"step-{step}"
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in model_state(model).items()}
    param_groups: dict[str, list[dict[str, Any]]] = {}
    for name, optimizer in trainer.optimizers.items():
        state = optimizer.state_dict()
        param_groups[name] = state["param_groups"]
        for index, values in state["state"].items():
            for key, value in values.items():
                tensors[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = cuda_state
    write_safetensors(folder / TENSORS_FILE, tensors)
    write_json(
        folder / META_FILE,
        {
            "step": step,
            "history": history,
            "pending": pending,
            "numpy_rng": rng.bit_generator.state,
            "param_groups": param_groups,
        },
    )
    write_text(path / POINTER_FILE, folder.name)
    for old in path.glob("step-*"):
        if old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(
    path: Path, model: LatentModel, trainer: Trainer, rng: np.random.Generator
) -> tuple[int, dict[str, list[float]], dict[str, float]]:
    """Restore what ``save_checkpoint`` wrote last; returns (step, history, pending loss sums)."""
    folder = Path(path) / (Path(path) / POINTER_FILE).read_text().strip()
    meta = json.loads((folder / META_FILE).read_text())
    tensors = load_file(str(folder / TENSORS_FILE))
    device = model.device
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    states: dict[str, dict[int, dict[str, torch.Tensor]]] = {name: {} for name in trainer.optimizers}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, name, index, field = key.split(".", 3)
            states[name].setdefault(int(index), {})[field] = value if field == "step" else value.to(device)
    for name, optimizer in trainer.optimizers.items():
        optimizer.load_state_dict({"state": states[name], "param_groups": meta["param_groups"][name]})
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    rng.bit_generator.state = meta["numpy_rng"]
    return int(meta["step"]), meta["history"], meta.get("pending", {})


def save_snapshot(folder: Path, model: LatentModel, step: int) -> Path:
    """Write the model's weights at ``step`` as ``folder/snapshots/step-N.safetensors``."""
    path = Path(folder) / SNAPSHOT_DIR / f"step-{step}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(path, model_state(model))
    return path


def list_snapshots(folder: Path) -> dict[int, Path]:
    """A model folder's snapshots by step, in step order."""
    paths = (Path(folder) / SNAPSHOT_DIR).glob("step-*.safetensors")
    steps = {int(path.name[len("step-") : -len(".safetensors")]): path for path in paths}
    return dict(sorted(steps.items()))


def load_snapshot(model: LatentModel, path: Path) -> None:
    """Load a snapshot's weights into ``model`` (built from the same folder's config)."""
    model.load_state_dict({k: v.to(model.device) for k, v in load_file(str(path)).items()})
