"""Training checks shared by the family tests: a crash right after a checkpoint then a resume, and
a few optimiser steps on dSprites that must lower the loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import latentatlas.train.loop as loop
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.families.base import LatentModel
from latentatlas.families.configs import FamilyConfig
from latentatlas.store import load_model_folder
from latentatlas.train import TrainConfig, train


class Crash(Exception):
    """What the patched checkpoint writer raises: the process dying right after a checkpoint."""


def crash_then_resume(
    config: FamilyConfig, dataset: DatasetSpec, settings: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict, dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Train straight through, and again with a crash right after the first checkpoint then a resume.

    Returns both runs' summaries and both saved models' state dicts (straight first)."""
    straight = train(config, dataset, settings, tmp_path / "straight", progress=False)
    real_save = loop.save_checkpoint

    def save_then_crash(*args, **kwargs):
        real_save(*args, **kwargs)
        raise Crash

    monkeypatch.setattr(loop, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        train(config, dataset, settings, tmp_path / "crashed", progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    first = settings.checkpoint_every
    assert (tmp_path / "crashed" / "checkpoint" / "latest").read_text() == f"step-{first}"
    resumed = train(config, dataset, settings, tmp_path / "crashed", resume=True, progress=False)
    a = load_model_folder(tmp_path / "straight").model.state_dict()
    b = load_model_folder(tmp_path / "crashed").model.state_dict()
    return straight, resumed, a, b


def assert_a_few_steps_lower_the_loss(model: LatentModel) -> None:
    """40 steps (lr 2e-3, batches of 16 dSprites images at 16 px): the last 8 losses average under
    0.7 times the first 8."""
    trainer = model.make_trainer(TrainConfig(lr=2e-3, weight_decay=0.0))
    dataset, rng = load_dataset(DatasetSpec(name="dsprites", image_size=16)), np.random.default_rng(0)
    losses = [trainer.step(lambda: dataset.images(dataset.sample_train_indices(16, rng)), s)["loss"] for s in range(40)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8]), (losses[:8], losses[-8:])
