"""The training loop behind ``latentatlas train``.

AdamW with decoupled weight decay on weights only (QLAE's "strong weight decay": biases
and codebook values get none), element-wise gradient clipping, a tqdm progress bar with
the losses and steps/s, periodic resumable checkpoints, and a model folder with its card
at the end.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, Field
from tqdm import tqdm

from latentatlas.data.base import DatasetSpec, load_dataset
from latentatlas.devices import resolve_device, set_threads
from latentatlas.nets import LatentModel, ModelConfig, build_model
from latentatlas.train.checkpoint import FolderConfig, load_checkpoint, save_checkpoint, save_model_folder
from latentatlas.nets.eoflow import EOFlow
from latentatlas.train.evaluate import evaluate_reconstruction, reconstruction_sheet
from latentatlas.train.flow_evaluation import TRAVERSALS_FILE, evaluate_flow

CHECKPOINT_DIR = "checkpoint"


class TrainConfig(BaseModel):
    steps: int = Field(20_000, ge=1)
    max_minutes: float | None = Field(None, gt=0)  # stop early at this wall time (the card records the steps done)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    seed: int = 0
    log_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    device: str = "auto"
    threads: int = Field(2, ge=1)


def make_optimizer(model: LatentModel, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; decay only on weight matrices and kernels (ndim >= 2), never biases or codebooks."""
    decay = [p for name, p in model.named_parameters() if p.ndim >= 2 and not name.startswith("quantizer.")]
    no_decay = [p for name, p in model.named_parameters() if p.ndim < 2 or name.startswith("quantizer.")]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr)


def git_commit() -> str:
    """The code's commit: git's HEAD, else $LATENTATLAS_GIT_COMMIT (a copied tree without .git)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("LATENTATLAS_GIT_COMMIT", "unknown")


def train(model_config: ModelConfig, dataset_spec: DatasetSpec, config: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> dict:
    """Train a model and write its folder (config, weights, card); returns the card."""
    set_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    dataset = load_dataset(dataset_spec)
    model_config = model_config.model_copy(update={"dataset_size": len(dataset)})
    model = build_model(model_config).to(device)
    optimizer = make_optimizer(model, config)
    step, history, sums = 0, {"step": [], "seconds": []}, {}
    checkpoint = out / CHECKPOINT_DIR
    if resume and (checkpoint / "state.json").exists():
        step, history, sums = load_checkpoint(checkpoint, model, optimizer, rng)
    folder_config = FolderConfig(model=model_config, dataset=dataset_spec, train=config.model_dump())

    model.train()
    if step == 0 and model.init_samples:
        model.initialize(dataset.images(dataset.sample_train_indices(model.init_samples, rng), device))
    elapsed_before = history["seconds"][-1] if history["seconds"] else 0.0
    started = time.perf_counter()
    bar = tqdm(total=config.steps, initial=step, desc=f"{model_config.kind}/{dataset_spec.name}", unit="step", disable=not progress)
    deadline = started + 60 * config.max_minutes if config.max_minutes else float("inf")
    while step < config.steps and time.perf_counter() < deadline:
        images = dataset.images(dataset.sample_train_indices(config.batch_size, rng), device)
        loss, parts = model.loss(images, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        for key, value in parts.items():
            sums[key] = sums.get(key, 0.0) + value
        if step % config.log_every == 0 or step == config.steps or time.perf_counter() >= deadline:
            count = step - (history["step"][-1] if history["step"] else 0)
            means = {key: value / count for key, value in sums.items()}
            history["step"].append(step)
            history["seconds"].append(elapsed_before + time.perf_counter() - started)
            for key, value in means.items():
                history.setdefault(key, []).append(value)
            sums = {}
            bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
        bar.update(1)
        if step % config.checkpoint_every == 0 and step < config.steps:
            save_checkpoint(checkpoint, model, optimizer, step, history, rng, sums)
    bar.close()
    save_checkpoint(checkpoint, model, optimizer, step, history, rng, sums)
    model.finalize()

    wall = history["seconds"][-1] if history["seconds"] else 0.0
    evaluation = evaluate_reconstruction(model, dataset, device)
    card = {
        "id": out.name,
        "kind": model_config.kind,
        "dataset": dataset.describe(),
        "steps": step,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "device": str(device),
        "wall_seconds": round(wall, 2),
        "steps_per_second": round(step / wall, 2) if wall > 0 else None,
        "curves": history,
        "heldout": {k: v for k, v in evaluation.items() if k != "latent_stats"},
        "latent_stats": evaluation["latent_stats"],
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if isinstance(model, EOFlow):
        card["flow"], traversals = evaluate_flow(model, dataset, device, curves=history, seed=config.seed)
        traversals.save(out / TRAVERSALS_FILE)
    save_model_folder(out, folder_config, model, card)
    reconstruction_sheet(model, dataset, device).save(out / "reconstructions.png")
    return card
