"""The generic training loop behind ``latentatlas train``.

It only drives steps: the family's :class:`~latentatlas.families.base.Trainer` owns the
optimisers and what one step does. The loop logs the step's values (means per ``log_every``
steps, with wall time), shows a tqdm bar with steps/s, writes resumable checkpoints (every
optimiser, RNG and counter; :mod:`latentatlas.store.checkpoints`) and at the end the model
folder with its card.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from latentatlas.data.base import FactorDataset, ImageDataset
from latentatlas.data.correlated import parse_correlated_pair, sample_correlated_train_indices
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.devices import resolve_device, set_threads
from latentatlas.evaluation.cards import training_card
from latentatlas.families import FamilyConfig, build_model
from latentatlas.families.base import LatentModel
from latentatlas.families.configs import TrainConfig
from latentatlas.store.checkpoints import has_checkpoint, load_checkpoint, save_checkpoint, save_snapshot
from latentatlas.store.folders import FolderConfig, load_model_folder, save_model_folder

CHECKPOINT_DIR = "checkpoint"


def git_commit() -> str:
    """The code's commit: git's HEAD, else $LATENTATLAS_GIT_COMMIT (a copied tree without .git)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("LATENTATLAS_GIT_COMMIT", "unknown")


IndexSampler = Callable[[int, np.random.Generator], np.ndarray]


def training_sampler(dataset: ImageDataset, config: TrainConfig) -> IndexSampler:
    """How training draws image indices: uniformly from the training images, or with
    ``config.correlate``'s two factors drawn jointly (:mod:`latentatlas.data.correlated`; a
    ValueError naming what is wrong when the dataset has no such factors)."""
    if config.correlate is None:
        return dataset.sample_train_indices
    if not isinstance(dataset, FactorDataset):
        raise ValueError("--correlate needs a dataset with generative factors (not an unlabelled image folder)")
    pair = parse_correlated_pair(config.correlate, tuple(dataset.factor_names), config.correlation_sigma)
    return lambda n, rng: sample_correlated_train_indices(dataset, pair, n, rng)


def finalize_model(
    model: LatentModel,
    dataset: ImageDataset,
    device: torch.device,
    rng: np.random.Generator,
    sample: IndexSampler | None = None,
) -> None:
    """The family's end-of-training step (:meth:`LatentModel.finalize`) on ``dataset``'s
    training images (drawn with ``rng`` by ``sample``, uniformly by default) and validation images."""
    sample = sample or dataset.sample_train_indices
    model.finalize(
        lambda n: dataset.images(sample(n, rng), device),
        lambda n: dataset.images(dataset.validation_indices[:n], device),
    )


def refinalize_folder(folder: Path, device: torch.device, seed: int = 0) -> dict:
    """Run a trained model folder's end-of-training step again with this code and rewrite its
    weights (an EOFlow re-estimates its explained entropy and re-orders its latents); the card
    records when and with which commit. Returns the card. Its evaluations are not refreshed."""
    loaded = load_model_folder(folder, device)
    dataset = load_dataset(loaded.config.dataset)
    finalize_model(loaded.model, dataset, device, np.random.default_rng(seed))
    loaded.model.eval()
    card = {
        **loaded.card,
        "finalized": {
            "git_commit": git_commit(),
            "seed": seed,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    save_model_folder(folder, loaded.config, loaded.model, card)
    return card


def train(
    model_config: FamilyConfig,
    dataset_spec: DatasetSpec,
    config: TrainConfig,
    out: Path,
    resume: bool = False,
    progress: bool = True,
    dataset: ImageDataset | None = None,
) -> dict:
    """Train a model and write its folder (config, weights, card); returns the card. ``dataset``:
    ``dataset_spec``'s dataset when the caller has opened it already."""
    set_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    dataset = load_dataset(dataset_spec) if dataset is None else dataset
    sample = training_sampler(dataset, config)
    model_config = model_config.model_copy(update={"dataset_size": len(dataset)})
    model = build_model(model_config).to(device)
    trainer = model.make_trainer(config)
    step = 0
    history: dict[str, list[float]] = {"step": [], "seconds": []}
    sums: dict[str, float] = {}
    checkpoint = out / CHECKPOINT_DIR
    if resume and has_checkpoint(checkpoint):
        step, history, sums = load_checkpoint(checkpoint, model, trainer, rng)
    folder_config = FolderConfig(model=model_config, dataset=dataset_spec, train=config.model_dump())

    def batch(size: int = config.batch_size) -> torch.Tensor:
        return dataset.images(sample(size, rng), device)

    model.train()
    if step == 0 and model.init_samples:
        model.initialize(batch(model.init_samples))
    elapsed_before = history["seconds"][-1] if history["seconds"] else 0.0
    started = time.perf_counter()
    bar = tqdm(
        total=config.steps,
        initial=step,
        desc=f"{model_config.kind}/{dataset_spec.name}",
        unit="step",
        disable=not progress,
    )
    deadline = started + 60 * config.max_minutes if config.max_minutes else float("inf")
    while step < config.steps and time.perf_counter() < deadline:
        parts = trainer.step(batch, step)
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
        if config.snapshot_every and step % config.snapshot_every == 0 and step < config.steps:
            save_snapshot(out, model, step)
        if step % config.checkpoint_every == 0 and step < config.steps:
            save_checkpoint(checkpoint, model, trainer, step, history, rng, sums)
    bar.close()
    save_checkpoint(checkpoint, model, trainer, step, history, rng, sums)
    finalize_model(model, dataset, device, rng, sample)
    model.eval()

    wall = history["seconds"][-1] if history["seconds"] else 0.0
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
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    card, pictures = training_card(model, dataset, device, card, seed=config.seed)
    save_model_folder(out, folder_config, model, card)
    for name, picture in pictures.items():
        picture.save(out / name)
    return card
