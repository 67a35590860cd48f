"""/api/ensembles on an ensemble of imported saved-latents runs (``ensemble import``): listed and
described with its source and why its members have no traversals, analysed by a job, its
similarity and hotspots served; no member is served as a model."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ensemble_runs import FACTOR_NAMES, run_arrays, write_run
from latentatlas.config import Settings
from latentatlas.imports import import_ensemble
from latentatlas.serve.app import create_app

NAME, N = "imported-runs", 24  # a small probe set: the analysis job fuses with its full default budget
DIMS = {"run-a": 3, "run-b": 2}
WAIT_S = 180


def wait_for(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        reply = client.get(f"/api/jobs/{job_id}").json()
        if reply["status"] in ("done", "failed"):
            return reply
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not finished after {WAIT_S} s")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("imported-ensemble")
    paths = [write_run(root / f"{name}.npz", run_arrays(k, N, dim)) for k, (name, dim) in enumerate(DIMS.items())]
    import_ensemble(paths, root / "models" / "ensembles" / NAME)
    with TestClient(create_app(Settings(models_dir=root / "models", torch_threads=1))) as client:
        yield client


def test_listed_and_described_with_its_source(client):
    (info,) = client.get("/api/ensembles").json()["ensembles"]
    assert info["id"] == NAME and info["source"] == "imported" and info["kind"] == "imported"
    assert info["betas"] == [] and info["seeds"] == 2 and info["latent_dim"] == 3
    assert info["status_counts"] == {"done": 2} and info["analysed"] is False
    assert info["members_decode"] is False and "no decoder" in info["members_note"]
    detail = client.get(f"/api/ensembles/{NAME}").json()
    assert [(m["name"], m["latent_dim"], m["status"]) for m in detail["members"]] == [
        (name, dim, "done") for name, dim in DIMS.items()
    ]
    assert all(m["beta"] is None and m["seed"] is None and m["model_id"] is None for m in detail["members"])
    assert client.get("/api/models").json()["models"] == []  # imported runs are not models
    assert client.get("/readyz").json()["failed"] == {}


def test_analysed_by_a_job_then_similarity_and_hotspots(client):
    assert client.get(f"/api/ensembles/{NAME}/similarity").status_code == 409
    response = client.post(f"/api/ensembles/{NAME}/analyze", json={"distance": "nmi"})
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["job_id"])
    assert job["status"] == "done", job
    assert job["result"]["members"] == 2 and job["result"]["channels"] == 5 and job["result"]["skipped"] == 0

    detail = client.get(f"/api/ensembles/{NAME}").json()
    assert detail["analysed"] and detail["probe_size"] == N and detail["factor_names"] == FACTOR_NAMES
    assert [len(m["info_bits"]) for m in detail["members"]] == list(DIMS.values())
    assert detail["spaces"]["members"] == list(DIMS) and detail["fusion"]["channels"] == 3

    sim = client.get(f"/api/ensembles/{NAME}/similarity").json()
    assert [(c["index"], c["member"], c["dim"]) for c in sim["channels"]] == [
        (i, name, k) for i, (name, k) in enumerate((n, k) for n, d in DIMS.items() for k in range(d))
    ]
    assert all(c["beta"] is None and c["seed"] is None for c in sim["channels"])
    assert len(sim["nmi"]) == 5 and all(len(row) == 5 for row in sim["nmi"]) and sim["min_samples"] == 2
    assert len(sim["nmi_factor"]) == 5 and sim["factor_names"] == FACTOR_NAMES

    hot = client.get(f"/api/ensembles/{NAME}/hotspots").json()
    labelled = {c for c, label in enumerate(sim["labels"]) if label >= 0}
    assert {c for h in hot["hotspots"] for c in h["channels"]} == labelled
    for hotspot in hot["hotspots"]:
        assert set(hotspot["members"]) <= set(DIMS) and hotspot["betas"] == [None] * len(hotspot["channels"])
        assert hotspot["best_factor"] in FACTOR_NAMES
