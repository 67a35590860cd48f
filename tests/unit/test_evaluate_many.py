"""``latentatlas evaluate FOLDER... --workers N | --ray-address A``: many folders, one job and one
card each, resumable (a folder scored under the same protocol is skipped), a failing folder
reported without stopping the others, a worker killed mid-run costing only its folders, and the
same scores from processes, from Ray and from one folder at a time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.folder_scoring import EvaluationRequest, scored_under
from latentatlas.families import model_config
from latentatlas.metrics.baselines import flatten_scores
from latentatlas.nets import NetConfig
from latentatlas.train import TrainConfig, train
from latentatlas.train.scoring_runs import evaluate_folders

NET = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
DSPRITES = DatasetSpec(name="dsprites", image_size=16)
PROTOCOL = ["--samples", "60", "--train-votes", "3", "--eval-votes", "2", "--threads", "1", "--device", "cpu"]
REQUEST = EvaluationRequest(samples=60, train_votes=3, eval_votes=2, threads=1, device="cpu")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Two tiny models (an AE, a QLAE) on dSprites, trained for a few steps, never scored."""
    root = tmp_path_factory.mktemp("many")
    run = TrainConfig(steps=4, batch_size=8, threads=1, device="cpu", log_every=2, checkpoint_every=4, seed=0)
    folders = {}
    for kind in ("ae", "qlae"):
        folders[kind] = root / kind
        train(model_config(kind=kind, latent_dim=4, net=NET), DSPRITES, run, folders[kind], progress=False)
    return folders


@pytest.fixture(scope="module")
def reference(trained, tmp_path_factory) -> dict[str, dict[str, float]]:
    """Each trained folder scored on its own, in this process: the scores every run must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    folders = [Path(shutil.copytree(folder, root / name)) for name, folder in trained.items()]
    entries = evaluate_folders(folders, REQUEST, workers=1)
    assert [e["status"] for e in entries] == ["done", "done"]
    return {folder.name: scores(folder) for folder in folders}


@pytest.fixture
def copies(trained, tmp_path) -> list[Path]:
    """Fresh copies of the two trained folders (each test scores its own)."""
    return [Path(shutil.copytree(folder, tmp_path / name)) for name, folder in trained.items()]


def card(folder: Path) -> dict:
    return json.loads((folder / "card.json").read_text())


def scores(folder: Path) -> dict[str, float]:
    return flatten_scores(card(folder)["metrics"]["values"])


def assert_reference_scores(folders: list[Path], reference: dict[str, dict[str, float]]) -> None:
    for folder in folders:
        assert scores(folder) == pytest.approx(reference[folder.name], abs=1e-12), folder.name


def test_processes_score_like_one_folder_at_a_time_then_skip_or_force(copies, reference):
    result = CliRunner().invoke(app, ["evaluate", *map(str, copies), *PROTOCOL, "--workers", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["folder"] for line in lines[:2]} == {str(folder) for folder in copies}
    assert all(line["status"] == "done" and line["values"] for line in lines[:2])
    assert lines[-1] == {"folders": 2, "done": 2, "skipped": 0, "failed": 0}
    assert_reference_scores(copies, reference)
    assert all(scored_under(card(folder), REQUEST) and card(folder)["steps"] == 4 for folder in copies)

    again = evaluate_folders(copies, REQUEST, workers=1)  # the cards are the run's record: nothing to do
    assert [e["status"] for e in again] == ["skipped", "skipped"]
    other_seed = REQUEST.model_copy(update={"seed": 1})
    assert not scored_under(card(copies[0]), other_seed)
    forced = evaluate_folders(copies[:1], REQUEST.model_copy(update={"force": True}), workers=1)
    assert forced[0]["status"] == "done"
    assert_reference_scores(copies[:1], reference)


def test_a_failing_folder_is_reported_and_the_others_are_scored(copies, tmp_path):
    broken = Path(shutil.copytree(copies[0], tmp_path / "broken"))
    (broken / "weights.safetensors").write_bytes(b"not safetensors")
    result = CliRunner().invoke(app, ["evaluate", str(broken), str(copies[1]), *PROTOCOL, "--workers", "1"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    failed = next(line for line in lines if line.get("folder") == str(broken))
    assert failed["status"] == "failed" and failed["error"] and "Traceback" not in result.stdout
    assert lines[-1]["done"] == 1 and lines[-1]["failed"] == 1
    assert scored_under(card(copies[1]), REQUEST)
    assert "metrics" not in card(broken)


def test_bad_options_are_clear_errors(copies, tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["evaluate", str(copies[0]), str(tmp_path / "nowhere"), *PROTOCOL])
    assert missing.exit_code != 0 and "nowhere" in missing.output
    both = runner.invoke(app, ["evaluate", *map(str, copies), "--baselines-only", *PROTOCOL])
    assert both.exit_code != 0 and "--baselines-only" in both.output


def _holder_of(lock: Path, parent: int) -> int | None:
    """The child process of ``parent`` that holds ``lock`` open (a pool worker scoring that folder)."""
    children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
    for child in children:
        try:
            fds = list(Path(f"/proc/{child}/fd").iterdir())
            if any(os.readlink(fd) == str(lock) for fd in fds):
                return int(child)
        except OSError:  # gone, or not ours to read
            continue
    return None


def test_a_worker_killed_mid_run_costs_only_its_folders(copies, reference):
    command = [sys.executable, "-m", "latentatlas.cli", "evaluate", *map(str, copies), *PROTOCOL, "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "backend"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lock = copies[0] / ".lock"
    deadline = time.monotonic() + 120
    worker = None
    while worker is None and time.monotonic() < deadline and run.poll() is None:
        worker = _holder_of(lock, run.pid)
        time.sleep(0.02)
    assert worker is not None, "no worker took the first folder"
    os.kill(worker, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, (stdout, stderr)
    lines = [json.loads(line) for line in stdout.splitlines()]
    killed = next(line for line in lines if line.get("folder") == str(copies[0]))
    assert killed["status"] == "failed" and "Traceback" not in stdout
    assert not scored_under(card(copies[0]), REQUEST)  # nothing half-written: the card is still the training one
    assert card(copies[0])["steps"] == 4

    result = CliRunner().invoke(app, ["evaluate", *map(str, copies), *PROTOCOL, "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert_reference_scores(copies, reference)


@pytest.mark.slow  # a two-node Ray cluster takes tens of seconds to start on two cores
def test_ray_tasks_on_a_two_node_cluster_score_like_processes(copies, reference):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'ray[default]'); not installed")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        assert len([node for node in ray.nodes() if node["Alive"]]) == 2
        entries = evaluate_folders(copies, REQUEST, ray_address=cluster.address)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert [e["status"] for e in entries] == ["done", "done"], entries
    assert_reference_scores(copies, reference)
