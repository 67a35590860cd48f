"""Derived results go to the state folder when the models folder is read-only, job errors name
no server path, and a starting server removes what a killed one left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from fastapi.testclient import TestClient

import latentatlas.store.folders as folders
from latentatlas.config import Settings
from latentatlas.serve.app import create_app
from latentatlas.serve.jobs import JobManager

SMALL = {"samples": 60, "train_votes": 4, "eval_votes": 2}


def _wait(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still running: {job}")


def test_a_read_only_models_folder_sends_metrics_runs_to_the_state_folder(models_dir, ids, tmp_path, monkeypatch):
    served, state = tmp_path / "models", tmp_path / "state"
    shutil.copytree(models_dir / ids.vae, served / ids.vae)
    real_access = os.access

    def read_only_models(path, mode, *args, **kwargs):  # a read-only mount, as root would see it too
        if mode & os.W_OK and str(path).startswith(str(served)):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(folders.os, "access", read_only_models)
    with TestClient(create_app(Settings(models_dir=served, state_dir=state, torch_threads=1))) as client:
        started = client.post(f"/api/models/{ids.vae}/metrics", json=SMALL)
        assert started.status_code == 202, started.text
        job = _wait(client, started.json()["job_id"])
    assert job["status"] == "done", job["error"]
    assert not (served / ids.vae / "runs").exists()
    (run,) = (state / "runs" / ids.vae).glob("metrics-*.json")
    assert json.loads(run.read_text()) == job["result"]


def test_a_failed_job_names_the_folders_by_their_setting_not_their_path(tmp_path):
    models = tmp_path / "models"
    jobs = JobManager(1, private_paths={models: "$LATENTATLAS_MODELS_DIR"})

    def work(progress):
        raise OSError(30, "Read-only file system", str(models / "ensembles" / "e" / "runs"))

    job, _ = jobs.submit("e", work)
    deadline = time.monotonic() + 10
    while jobs.get(job.id).active and time.monotonic() < deadline:
        time.sleep(0.05)
    error = jobs.get(job.id).error
    assert "$LATENTATLAS_MODELS_DIR/ensembles/e/runs" in error
    assert str(tmp_path) not in error


def test_a_starting_server_removes_what_a_killed_one_left(models_dir, ids, tmp_path):
    served, state = tmp_path / "models", tmp_path / "state"
    model = served / ids.qlae
    shutil.copytree(models_dir / ids.qlae, model)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(finished.stdout)
    stale = model / f".weights.safetensors.{dead_pid}.tmp"
    stale.write_bytes(b"half a file")
    live = model / f".card.json.{os.getpid()}.tmp"  # a writer still alive: left alone
    live.write_text("{}")
    partial = model / "runs" / "analysis-20260101T000000000000Z"
    partial.mkdir(parents=True)
    (partial / "analysis.safetensors").write_bytes(b"")
    complete = model / "runs" / "analysis-20260102T000000000000Z"
    complete.mkdir()
    (complete / "analysis.json").write_text("{}")
    empty_runs = state / "runs" / ids.qlae / "runs"
    empty_runs.mkdir(parents=True)

    create_app(Settings(models_dir=served, state_dir=state, torch_threads=1))

    assert not stale.exists() and not partial.exists() and not empty_runs.exists()
    assert live.exists() and (complete / "analysis.json").exists()
    assert (model / "weights.safetensors").exists()


def test_the_compose_file_mounts_a_writable_state_folder_beside_the_read_only_models():
    from latentatlas.config import REPO_ROOT

    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    assert "./models:/app/models:ro" in compose
    assert "LATENTATLAS_STATE_DIR=/app/state" in (REPO_ROOT / "Dockerfile").read_text()
    assert "state:/app/state" in compose
