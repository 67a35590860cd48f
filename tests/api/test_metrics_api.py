"""Metrics jobs: POST /api/models/{id}/metrics starts (or joins) a background job, GET
/api/jobs/{id} follows it; the result lands in the card and in /api/models."""

from __future__ import annotations

import json
import shutil
import threading
import time

import numpy as np
import pytest
from api_assertions import JOB_WAIT_S as WAIT_S
from api_assertions import wait_for_job as wait_for
from fastapi.testclient import TestClient

import latentatlas.serve.routers.metrics as metrics_router
from latentatlas.config import Settings
from latentatlas.serve.app import create_app

SMALL = {"samples": 60, "train_votes": 4, "eval_votes": 2}


@pytest.fixture(scope="module")
def metrics_dir(models_dir, ids, tmp_path_factory):
    """Copies of the two tiny models: the jobs write into their cards."""
    root = tmp_path_factory.mktemp("metrics-models")
    for model_id in (ids.qlae, ids.vae):
        shutil.copytree(models_dir / model_id, root / model_id)
    return root


@pytest.fixture(scope="module")
def jobs_client(metrics_dir):
    """An app allowing one metrics job at a time."""
    with TestClient(create_app(Settings(models_dir=metrics_dir, torch_threads=1, max_jobs=1))) as client:
        yield client


@pytest.fixture(scope="module")
def vae_job(jobs_client, ids) -> tuple[dict, list[dict]]:
    """One real metrics job on the VAE, with small counts: (the POST's reply, every poll)."""
    assert jobs_client.get(f"/api/models/{ids.vae}").json()["metrics"] is None
    response = jobs_client.post(f"/api/models/{ids.vae}/metrics", json=SMALL)
    assert response.status_code == 202, response.text
    return response.json(), wait_for(jobs_client, response.json()["job_id"])


def test_job_computes_the_metrics_beside_the_card(vae_job, jobs_client, ids, metrics_dir):
    started, replies = vae_job
    assert started["status"] in ("queued", "running") and started["joined"] is False
    job = replies[-1]
    assert job["status"] == "done", job["error"]
    assert job["job_id"] == started["job_id"] and job["model_id"] == ids.vae
    assert job["progress"] == 1.0 and job["error"] is None
    progress = [reply["progress"] for reply in replies]
    assert progress == sorted(progress) and all(0.0 <= p <= 1.0 for p in progress)
    result = job["result"]
    assert result["samples"] == 60 and result["votes"] == {"train": 4, "eval": 2, "batch_size": 64}
    assert result["infomec_latents"] == "values"
    assert len(result["matrices"]["infomec_nmi"]) == 6  # Shapes3D's factors x the VAE's 12 latents
    assert {len(row) for row in result["matrices"]["infomec_nmi"]} == {12}
    assert {"mig", "dci", "infomec", "factor_vae", "beta_vae"} <= set(result["values"])
    # Beside every score but exact DCI (its null costs four more fits: `evaluate --dci-baselines`),
    # its null (shuffled rows; the vote-based ones: latent rows drawn independently of the
    # factors) and its perfect-latents ceiling.
    baselines = result["baselines"]
    names = {
        "mig",
        "sap",
        "modularity",
        "explicitness_train",
        "explicitness_test",
        "infomec.infom",
        "infomec.infoc",
        "infomec.infoe",
        "med.disentanglement",
        "med.completeness",
        "med.informativeness_train",
        "med.informativeness_test",
        "med.top1.disentanglement",
        "med.top1.completeness",
        "med.top2.disentanglement",
        "med.top2.completeness",
        "factor_vae.eval_accuracy",
        "factor_vae_corrected.eval_accuracy",
        "beta_vae.eval_accuracy",
    }
    assert set(baselines["ceiling"]) == set(baselines["null_mean"]) == set(baselines["null_sd"]) == names
    assert baselines["null"].startswith("shuffled rows, 3 permutations")
    assert baselines["ceiling"]["infomec.infom"] > baselines["null_mean"]["infomec.infom"]
    # With 4 + 2 votes even perfect latents miss: a latent no training vote reached maps to factor 0.
    assert all(0.0 <= baselines["ceiling"][name] <= 1.0 for name in names if "vae" in name)

    # The run is written beside the card (never over it), and the detail and the list serve it.
    card = json.loads((metrics_dir / ids.vae / "card.json").read_text())
    assert "metrics" not in card
    (run,) = (metrics_dir / ids.vae / "runs").glob("metrics-*.json")
    assert json.loads(run.read_text()) == result
    detail = jobs_client.get(f"/api/models/{ids.vae}").json()
    assert detail["metrics"] == result and "metrics" not in detail["card"]
    listed = {m["id"]: m for m in jobs_client.get("/api/models").json()["models"]}
    assert listed[ids.vae]["metrics"] == result
    # The server names each dim from them: its best factor by NMI, only at or above the threshold.
    names, threshold = detail["dim_names"], detail["dim_name_threshold"]
    nmi = np.asarray(result["matrices"]["infomec_nmi"])
    assert len(names) == nmi.shape[1] == 12
    for d, name in enumerate(names):
        if name is None:
            assert (
                nmi[:, d].max() < threshold
                or not result["matrices"]["infomec_active"][d]
                or detail["posterior_scale"][d] >= 0.8
            )
        else:
            assert name["factor"] == result["factor_names"][int(nmi[:, d].argmax())] and name["nmi"] >= threshold


def test_second_post_joins_the_running_job_and_the_limit_refuses_more(jobs_client, ids, monkeypatch):
    release = threading.Event()

    def blocking_work(service, samples, seed, votes, n_jobs, state_dir):
        def work(progress):
            progress(0.5, "waiting for the test")
            release.wait(WAIT_S)
            raise RuntimeError("stopped by the test")

        return work

    monkeypatch.setattr(metrics_router, "metrics_work", blocking_work)
    first = jobs_client.post(f"/api/models/{ids.qlae}/metrics")
    assert first.status_code == 202, first.text
    job_id = first.json()["job_id"]
    try:
        again = jobs_client.post(f"/api/models/{ids.qlae}/metrics", json=SMALL)
        assert again.status_code == 202
        assert again.json()["job_id"] == job_id and again.json()["joined"] is True

        refused = jobs_client.post(f"/api/models/{ids.vae}/metrics", json=SMALL)
        assert refused.status_code == 429
        assert "limit is 1" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) > 0
    finally:
        release.set()
    job = wait_for(jobs_client, job_id)[-1]
    assert job["status"] == "failed" and job["error"] == "stopped by the test" and job["result"] is None


def test_a_cancelled_job_stops_and_writes_nothing(jobs_client, ids, metrics_dir, monkeypatch):
    """DELETE /api/jobs/{id}: the work stops at its next progress report; the card is untouched."""
    card_before = (metrics_dir / ids.qlae / "card.json").read_bytes()
    reported, reports = threading.Event(), []

    def slow_work(service, samples, seed, votes, n_jobs, state_dir):
        def work(progress):
            for step in range(200):
                progress(step / 200, f"stage {step}")
                reports.append(step)
                reported.set()
                time.sleep(0.05)
            raise AssertionError("the job was not cancelled")

        return work

    monkeypatch.setattr(metrics_router, "metrics_work", slow_work)
    job_id = jobs_client.post(f"/api/models/{ids.qlae}/metrics").json()["job_id"]
    assert reported.wait(10)
    cancelled = jobs_client.delete(f"/api/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["stage"].startswith("cancelling")
    job = wait_for(jobs_client, job_id)[-1]
    assert job["status"] == "cancelled" and job["result"] is None and job["error"] is None
    assert len(reports) < 50  # it stopped at once, long before its 200 stages
    assert (metrics_dir / ids.qlae / "card.json").read_bytes() == card_before
    # Cancelling a finished job changes nothing; an unknown job is 404.
    assert jobs_client.delete(f"/api/jobs/{job_id}").json()["status"] == "cancelled"
    assert jobs_client.delete("/api/jobs/no-such-job").status_code == 404


def test_a_cancel_sets_the_jobs_stop_flag_at_once(jobs_client, ids, monkeypatch):
    """The flag a job's worker processes poll (exact DCI's trees, between boosting stages) is set
    by the DELETE itself, not at the work's next progress report."""
    started, seen = threading.Event(), []

    def flagged_work(service, samples, seed, votes, n_jobs, state_dir):
        def work(progress):
            started.set()
            for _ in range(400):  # no progress report: only the flag can end this loop early
                if progress.stop():
                    seen.append(True)
                    progress(0.5, "stopping")  # raises: the cancel was asked for
                time.sleep(0.025)
            raise AssertionError("the stop flag was never set")

        return work

    monkeypatch.setattr(metrics_router, "metrics_work", flagged_work)
    job_id = jobs_client.post(f"/api/models/{ids.qlae}/metrics").json()["job_id"]
    assert started.wait(10)
    assert jobs_client.delete(f"/api/jobs/{job_id}").status_code == 200
    job = wait_for(jobs_client, job_id)[-1]
    assert job["status"] == "cancelled" and seen == [True]


def test_unknown_model_and_job_are_404(jobs_client):
    response = jobs_client.post("/api/models/no-such-model/metrics")
    assert response.status_code == 404 and "no-such-model" in response.json()["detail"]
    response = jobs_client.get("/api/jobs/no-such-job")
    assert response.status_code == 404 and "no-such-job" in response.json()["detail"]


def test_bad_requests_are_422(jobs_client, ids, monkeypatch):
    response = jobs_client.post(f"/api/models/{ids.vae}/metrics", json={"samples": 5})
    assert response.status_code == 422 and "samples" in response.json()["detail"]
    response = jobs_client.post(f"/api/models/{ids.vae}/metrics", json={"bogus": 1})
    assert response.status_code == 422
    # A model whose dataset has no generative factors (e.g. an image folder) cannot be scored.
    service = jobs_client.app.state.registry.get(ids.vae)
    monkeypatch.setattr(service, "_dataset", None)  # as when its image folder is not on this machine
    monkeypatch.setattr(service, "_dataset_error", "no such folder")
    response = jobs_client.post(f"/api/models/{ids.vae}/metrics")
    assert response.status_code == 422 and "generative factors" in response.json()["detail"]


def test_read_only_models_folder_keeps_the_metrics_in_memory(vae_job, jobs_client, ids, metrics_dir, monkeypatch):
    from latentatlas.evaluation import disentanglement  # the job imports it when it runs

    recomputed = {**vae_job[1][-1]["result"], "seed": 7}
    monkeypatch.setattr(disentanglement, "evaluate_model", lambda *args, **kwargs: recomputed)

    def read_only(folder, metrics, state_dir):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(disentanglement, "save_metrics_run", read_only)
    runs_before = sorted((metrics_dir / ids.vae / "runs").glob("*.json"))
    job = wait_for(jobs_client, jobs_client.post(f"/api/models/{ids.vae}/metrics").json()["job_id"])[-1]
    assert job["status"] == "done" and job["result"]["seed"] == 7
    assert jobs_client.get(f"/api/models/{ids.vae}").json()["metrics"]["seed"] == 7  # served from memory
    assert sorted((metrics_dir / ids.vae / "runs").glob("*.json")) == runs_before  # nothing written


def test_back_to_the_shipped_card_after_a_job(vae_job, jobs_client, ids, metrics_dir):
    """A job's numbers replace the served metrics; POST .../metrics/shipped serves the shipped
    card.json's again (none for this model: null), and the job's run stays on disk."""
    assert vae_job[1][-1]["status"] == "done"
    assert jobs_client.get(f"/api/models/{ids.vae}").json()["metrics"] is not None  # the job's
    runs = sorted((metrics_dir / ids.vae / "runs").glob("metrics-*.json"))
    response = jobs_client.post(f"/api/models/{ids.vae}/metrics/shipped")
    assert response.status_code == 200, response.text
    assert response.json() is None  # the shipped card has no metrics
    assert jobs_client.get(f"/api/models/{ids.vae}").json()["metrics"] is None
    listed = {m["id"]: m for m in jobs_client.get("/api/models").json()["models"]}
    assert listed[ids.vae]["metrics"] is None
    assert sorted((metrics_dir / ids.vae / "runs").glob("metrics-*.json")) == runs
    # a model whose shipped card has metrics gets exactly those back
    card = json.loads((metrics_dir / ids.vae / "card.json").read_text())
    shipped = {**vae_job[1][-1]["result"], "seed": 11}
    (metrics_dir / ids.vae / "card.json").write_text(json.dumps({**card, "metrics": shipped}))
    try:
        assert jobs_client.post(f"/api/models/{ids.vae}/metrics/shipped").json()["seed"] == 11
        assert jobs_client.get(f"/api/models/{ids.vae}").json()["metrics"]["seed"] == 11
    finally:
        (metrics_dir / ids.vae / "card.json").write_text(json.dumps(card))
    assert jobs_client.post("/api/models/nope/metrics/shipped").status_code == 404
