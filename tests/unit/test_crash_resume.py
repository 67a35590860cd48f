"""Checkpoints survive a crash at any moment: a training process killed with SIGKILL at random
points (a checkpoint every step), then resumed, finishes bitwise equal to a run never
interrupted (the pointer-file checkpoints of ``latentatlas.store.checkpoints``)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

STEPS = 60
SCRIPT = """
import sys
from pathlib import Path
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import model_config
from latentatlas.nets import NetConfig
from latentatlas.train import TrainConfig, train

kind, out = sys.argv[1], Path(sys.argv[2])
net = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
options = {"generator_period": 2} if kind == "qlinfogan" else {}
config = model_config(kind=kind, latent_dim=4, net=net, **options)
run = TrainConfig(steps=STEPS, batch_size=8, threads=1, device="cpu", log_every=5, checkpoint_every=1, seed=5)
train(config, DatasetSpec(name="dsprites", image_size=16), run, out, resume=True, progress=False)
""".replace("STEPS", str(STEPS))


def _run(kind: str, out: Path, kill_after: float | None = None) -> bool:
    """Train (resuming) in a child process; with ``kill_after``, SIGKILL it that many seconds
    after its first checkpoint appears. True when the run finished."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, kind, str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if kill_after is not None:
        deadline = time.monotonic() + 120
        start_step = _step(out)
        while child.poll() is None and time.monotonic() < deadline and _step(out) == start_step:
            time.sleep(0.005)
        time.sleep(kill_after)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
    _, stderr = child.communicate(timeout=300)
    if child.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(stderr.decode()[-2000:])
    return child.returncode == 0


def _step(out: Path) -> int:
    pointer = out / "checkpoint" / "latest"
    try:
        return int(pointer.read_text().split("-")[1])
    except (OSError, ValueError, IndexError):
        return -1


@pytest.mark.parametrize(
    "kind", ["qlae", pytest.param("qlinfogan", marks=pytest.mark.slow)]
)  # one optimiser; two, alternating (the slow tier: a minute of SIGKILLs)
def test_sigkill_at_random_moments_then_resume_is_bitwise_equal(tmp_path, kind):
    assert _run(kind, tmp_path / "straight")
    rng = random.Random(7)
    crashed = tmp_path / "crashed"
    kills = 0
    for _ in range(4):
        if _run(kind, crashed, kill_after=rng.uniform(0.0, 0.4)):
            break
        kills += 1
    while not _run(kind, crashed):  # resume to the end
        pass
    assert kills >= 1, "no kill landed mid-run: the test proved nothing"
    a = load_file(str(tmp_path / "straight" / "weights.safetensors"))
    b = load_file(str(crashed / "weights.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    straight = json.loads((tmp_path / "straight" / "card.json").read_text())["curves"]
    resumed = json.loads((crashed / "card.json").read_text())["curves"]
    assert resumed["step"] == straight["step"]
    for key in straight:
        if key not in ("seconds",):
            assert resumed[key] == straight[key], key
