"""FactorVAE (two optimisers, two batches a step) and HFS through the generic loop: a run that
crashes right after a checkpoint and resumes finishes bitwise equal to one never interrupted."""

from __future__ import annotations

import pytest
import torch

from latentatlas.data.spec import DatasetSpec
from latentatlas.families import model_config
from latentatlas.nets import NetConfig
from latentatlas.train import TrainConfig
from train_helpers import crash_then_resume

NET16 = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
DSPRITES16 = DatasetSpec(name="dsprites", image_size=16)
OPTIONS = {"factorvae": {"discriminator_layers": 3, "discriminator_width": 32}, "hfs": {"gamma": 2.0}}


@pytest.mark.parametrize("kind", ["factorvae", "hfs"])
def test_crash_then_resume_is_bitwise_equal(tmp_path, monkeypatch, kind):
    config = model_config(kind=kind, latent_dim=4, net=NET16, **OPTIONS[kind])
    tiny = {"threads": 1, "device": "cpu", "log_every": 2, "checkpoint_every": 4, "seed": 3}
    settings = TrainConfig(steps=8, batch_size=8, lr=1e-3, **tiny)
    straight, resumed, a, b = crash_then_resume(config, DSPRITES16, settings, tmp_path, monkeypatch)
    assert a.keys() == b.keys()
    if kind == "factorvae":
        assert any(name.startswith("discriminator.") for name in a)  # saved with the model
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed["curves"]["step"] == straight["curves"]["step"] == [2, 4, 6, 8]
    for key in straight["curves"]:
        if key != "seconds":
            assert resumed["curves"][key] == straight["curves"][key], key
