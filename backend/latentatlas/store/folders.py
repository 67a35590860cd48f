"""Model folders, in safetensors and JSON only (never pickles).

A model folder holds ``config.json`` (model, dataset and training configs),
``weights.safetensors`` and ``card.json`` (what was trained, how, and how well). Every file
is written atomically (:func:`write_json`, :func:`write_safetensors`): a reader sees the old
version or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SerializeAsAny, field_validator

from latentatlas.data.spec import DatasetSpec
from latentatlas.families import FamilyConfig, get_family, model_config
from latentatlas.families.configs import WEIGHTS_FILE

if TYPE_CHECKING:
    import torch

    from latentatlas.families.base import LatentModel

CONFIG_FILE, CARD_FILE = "config.json", "card.json"
PROBE_FILE = "probe_decoder.safetensors"
"""A probe decoder trained on the model's frozen latents (:mod:`latentatlas.store.probe_decoder`)."""


class FolderConfig(BaseModel):
    """Everything needed to rebuild a model and its data: the content of ``config.json``.
    ``model`` is the family's own typed config, chosen by its ``kind``."""

    model: SerializeAsAny[FamilyConfig]
    dataset: DatasetSpec
    train: dict[str, Any] = {}

    @field_validator("model", mode="before")
    @classmethod
    def _family_config(cls, value: Any) -> FamilyConfig:
        return model_config(value) if isinstance(value, dict) else value


@dataclass
class LoadedModel:
    folder: Path
    config: FolderConfig
    model: LatentModel
    card: dict[str, Any]


def _replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary file in the same folder: flushed, fsynced, renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write text atomically (a reader never sees half a file)."""
    _replace_atomically(Path(path), lambda tmp: tmp.write_text(text))


def write_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically (a reader never sees half a file)."""
    _replace_atomically(Path(path), lambda tmp: tmp.write_bytes(data))


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    write_text(path, json.dumps(payload, indent=2))


RUNS_FOLDER = "runs"


def read_manifest_json(out: Path, file_name: str, error: type[Exception], what: str) -> dict[str, Any]:
    """The JSON manifest ``file_name`` of a run folder ``out``; ``error`` naming ``what`` folder it
    is not (e.g. "an ensemble") when the file is missing."""
    path = Path(out) / file_name
    if not path.is_file():
        raise error(f"{out} is not {what} folder (no {file_name})")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def run_path(folder: Path, prefix: str, suffix: str = "", state_dir: Path | None = None) -> Path:
    """Where a run requested through the API goes, beside the shipped files and never over them:
    ``folder/runs/PREFIX-<UTC time>SUFFIX`` (the folder is created); where ``folder`` cannot be
    written (a read-only models mount), ``state_dir/runs/<folder name>/PREFIX-<UTC time>SUFFIX``."""
    runs = Path(folder) / RUNS_FOLDER
    if state_dir is not None and not os.access(runs if runs.is_dir() else folder, os.W_OK):
        runs = Path(state_dir) / RUNS_FOLDER / Path(folder).name
    runs.mkdir(parents=True, exist_ok=True)
    return runs / f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}{suffix}"


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically."""
    from safetensors.torch import save_file  # here: reading a folder's config needs no torch

    _replace_atomically(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def ship_float16(folder: Path, section: str) -> None:
    """Rewrite a trained folder's weights as a float16 copy (the form a zoo's showcases and an
    ensemble's members ship in: half the bytes, scores and analyses computed in float32 stand),
    leaving out the parts only training uses (the family's ``training_only``: a contrastive
    encoder's heads and target network), and say so in its card under ``card[section]["weights"]``."""
    from safetensors.torch import load_file  # here: reading a folder's config needs no torch

    folder = Path(folder)
    dropped = get_family(read_folder_config(folder).model.kind).model.training_only
    weights = load_file(str(folder / WEIGHTS_FILE))
    write_safetensors(
        folder / WEIGHTS_FILE,
        {k: v.half() if v.is_floating_point() else v for k, v in weights.items() if not k.startswith(dropped)},
        metadata={"dtype": "float16 copy of the trained float32 weights"},
    )
    card = json.loads((folder / CARD_FILE).read_text())
    left_out = (
        f"; left out, as only training uses them: {', '.join(p.rstrip('._') for p in dropped)}" if dropped else ""
    )
    card.setdefault(section, {})["weights"] = (
        f"float16 copy of the trained float32 weights (scores were computed in float32){left_out}"
    )
    write_json(folder / CARD_FILE, card)


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU, contiguous (as safetensors wants it)."""
    return {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}


def save_model_folder(folder: Path, config: FolderConfig, model: LatentModel, card: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / CONFIG_FILE, config.model_dump(mode="json"))
    write_safetensors(folder / WEIGHTS_FILE, model_state(model))
    write_json(folder / CARD_FILE, card)


def read_folder_config(folder: Path) -> FolderConfig:
    return FolderConfig.model_validate_json((Path(folder) / CONFIG_FILE).read_text())


def load_model_folder(folder: Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild a model from its folder, as its family stores it (``LatentModel.from_folder``: a
    trained model's safetensors weights, an imported model's graphs); raises ValueError/OSError
    when files are missing or corrupt."""
    folder = Path(folder)
    config = read_folder_config(folder)
    model = get_family(config.model.kind).model.from_folder(config.model, folder)
    card_path = folder / CARD_FILE
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    return LoadedModel(folder, config, model.to(device).eval(), card)


__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "FamilyConfig",
    "FolderConfig",
    "LoadedModel",
    "load_model_folder",
    "model_state",
    "read_folder_config",
    "run_path",
    "save_model_folder",
    "write_json",
    "write_safetensors",
    "write_text",
]
