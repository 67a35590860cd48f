"""/api/ensembles: a tiny trained ensemble (2 small betas x 1 seed, trained long enough
for active channels and hotspots) and a broken one under
<models_dir>/ensembles; list, describe, 409 before analysis, an analysis job, similarity
and hotspots, members served as NAME.MEMBER models, 404s and /readyz."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latentatlas.config import Settings
from latentatlas.data.spec import DatasetSpec
from latentatlas.nets import NetConfig
from latentatlas.serve.app import create_app
from latentatlas.store.ensembles import EnsembleConfig
from latentatlas.train import TrainConfig
from latentatlas.train.ensemble import run_ensemble

NAME, BROKEN = "tiny-vae", "broken-ensemble"
LATENT, PROBE = 3, 60
BETAS = (0.01, 0.1)  # small betas: 150 steps give every member active channels (about 1 s)
MEMBERS = ["beta0.01-seed0", "beta0.1-seed0"]
WAIT_S = 60


@pytest.fixture(scope="session")
def ensembles_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ensemble-models")
    config = EnsembleConfig(
        kind="vae",
        dataset=DatasetSpec(name="dsprites", image_size=16, holdout=50),
        net=NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=16),
        latent_dim=LATENT,
        betas=BETAS,
        seeds=1,
        train=TrainConfig(steps=150, batch_size=16, lr=3e-3, threads=1, device="cpu", log_every=50),
        probe_size=PROBE,
    )
    run_ensemble(config, root / "ensembles" / NAME, jobs=1, progress=False)
    (root / "ensembles" / BROKEN).mkdir()
    (root / "ensembles" / BROKEN / "manifest.json").write_text("{not json at all")
    (root / "ensembles" / "scratch").mkdir()  # no manifest: not an ensemble, ignored
    return root


@pytest.fixture(scope="session")
def ens_client(ensembles_dir):
    with TestClient(create_app(Settings(models_dir=ensembles_dir, torch_threads=1))) as client:
        yield client


def wait_for(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        response = client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        reply = response.json()
        assert 0 <= reply["progress"] <= 1
        if reply["status"] in ("done", "failed"):
            return reply
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished after {WAIT_S} s")


@pytest.fixture(scope="session")
def analysed(ens_client) -> dict:
    """Before analysis: 409s; then one analysis job, polled to its end; its last reply."""
    for path in ("similarity", "hotspots"):
        response = ens_client.get(f"/api/ensembles/{NAME}/{path}")
        assert response.status_code == 409, response.text
        assert "not been analysed" in response.json()["detail"] and "/analyze" in response.json()["detail"]
    response = ens_client.post(f"/api/ensembles/{NAME}/analyze", json={"distance": "nmi"})  # min_samples: the rule
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["joined"] is False and started["status"] in ("queued", "running", "done")
    return wait_for(ens_client, started["job_id"])


def test_list_and_describe(ens_client):
    response = ens_client.get("/api/ensembles")
    assert response.status_code == 200
    ensembles = {e["id"]: e for e in response.json()["ensembles"]}
    assert set(ensembles) == {NAME}
    info = ensembles[NAME]
    assert info["kind"] == "vae" and info["dataset"] == "dsprites" and info["latent_dim"] == LATENT
    assert info["betas"] == list(BETAS) and info["seeds"] == 1
    assert info["member_count"] == 2 and info["status_counts"] == {"done": 2}
    detail = ens_client.get(f"/api/ensembles/{NAME}").json()
    assert [m["name"] for m in detail["members"]] == MEMBERS
    assert [(m["beta"], m["seed"], m["status"]) for m in detail["members"]] == [(b, 0, "done") for b in BETAS]
    assert [m["model_id"] for m in detail["members"]] == [f"{NAME}.{m}" for m in MEMBERS]


def test_members_served_as_models(ens_client):
    models = {m["id"]: m for m in ens_client.get("/api/models").json()["models"]}
    assert set(models) == {f"{NAME}.{m}" for m in MEMBERS}  # "ensembles" itself is not a model
    model_id = f"{NAME}.{MEMBERS[1]}"
    assert models[model_id]["latent_dim"] == LATENT and models[model_id]["kind"] == "vae"
    response = ens_client.post(f"/api/models/{model_id}/encode", json={"dataset_index": 5})
    assert response.status_code == 200, response.text
    assert len(response.json()["latent"]) == LATENT
    traverse = ens_client.post(f"/api/models/{model_id}/traverse", json={"latent": [0.0] * LATENT, "steps": 3})
    assert traverse.status_code == 200, traverse.text


def test_analysis_job_then_similarity_and_hotspots(ens_client, analysed):
    assert analysed["status"] == "done", analysed
    assert analysed["ensemble_id"] == NAME and analysed["model_id"] is None
    assert analysed["result"]["members"] == 2 and analysed["result"]["channels"] == 2 * LATENT

    info = ens_client.get("/api/ensembles").json()["ensembles"][0]
    assert info["analysed"] is True and info["analysed_at"]
    detail = ens_client.get(f"/api/ensembles/{NAME}").json()
    assert detail["probe_size"] == PROBE and len(detail["factor_names"]) == 5
    for member in detail["members"]:
        assert len(member["info_bits"]) == LATENT and len(member["active"]) == LATENT
    assert detail["spaces"]["members"] == MEMBERS and len(detail["spaces"]["nmi"]) == 2
    assert detail["fusion"]["best_member"] in MEMBERS and detail["fusion"]["channels"] == LATENT
    fusion = detail["fusion"]
    assert fusion["init"] == "random" and fusion["start_member"] is None and fusion["max_steps"] == 20_000
    assert 0 < fusion["steps"] <= fusion["max_steps"] and len(fusion["history"]) >= 2 and fusion["history_every"] == 50

    response = ens_client.get(f"/api/ensembles/{NAME}/similarity")
    assert response.status_code == 200, response.text
    sim = response.json()
    m = 2 * LATENT
    assert len(sim["channels"]) == m and len(sim["labels"]) == m
    assert [(c["member"], c["dim"], c["beta"]) for c in sim["channels"]] == [
        (member, dim, beta) for member, beta in zip(MEMBERS, BETAS) for dim in range(LATENT)
    ]
    assert len(sim["nmi"]) == m and all(len(row) == m for row in sim["nmi"])
    assert len(sim["vi"]) == m and all(len(row) == m for row in sim["vi"])
    assert all(sim["nmi"][i][i] == 1.0 and sim["vi"][i][i] == 0.0 for i in range(m))
    assert sim["distance"] == "nmi" and sim["min_samples"] == 2  # the rule: 1 seed per beta, at least 2
    assert len(sim["ordering"]) == len(sim["reachability"]) == len(sim["clustered"])
    assert sorted(sim["ordering"]) == sorted(sim["clustered"])
    assert all(label >= -2 for label in sim["labels"])
    assert len(sim["factor_names"]) == 5 and len(sim["nmi_factor"]) == m
    assert all(len(row) == 5 for row in sim["nmi_factor"])

    response = ens_client.get(f"/api/ensembles/{NAME}/hotspots")
    assert response.status_code == 200, response.text
    hot = response.json()
    assert hot["ensemble"] == NAME and len(hot["factor_names"]) == 5
    assert hot["hotspots"], "the tiny ensemble should have at least one hotspot"
    labelled = {i for i, label in enumerate(sim["labels"]) if label >= 0}
    assert {c for h in hot["hotspots"] for c in h["channels"]} == labelled
    for hotspot in hot["hotspots"]:
        assert len(hotspot["members"]) == len(hotspot["betas"]) == len(hotspot["channels"])
        assert set(hotspot["members"]) <= set(MEMBERS) and set(hotspot["betas"]) <= set(BETAS)
        assert hotspot["mean_info_bits"] > 0
        assert hotspot["best_factor"] in hot["factor_names"]
        assert hotspot["best_factor_nmi"] == max(v for v in hotspot["factor_nmi"].values() if v is not None)
        assert set(hotspot["factor_nmi"]) == set(hot["factor_names"])
    # Judged against an ensemble of untrained encoders (analysis.json's untrained_null).
    assert "95th percentile" in hot["untrained_null_rule"]
    assert hot["untrained_nulls"][0]["name"] == "as_initialised"
    bars = [null["cross_member_nmi_p95"] for null in hot["untrained_nulls"]]
    for hotspot in hot["hotspots"]:
        beats = hotspot["cohesion"] is not None and all(bar is not None and hotspot["cohesion"] > bar for bar in bars)
        assert hotspot["beats_untrained_null"] == beats


def test_unknown_ensemble_and_bad_requests(ens_client):
    for method, path in (("get", ""), ("get", "/similarity"), ("get", "/hotspots"), ("post", "/analyze")):
        response = getattr(ens_client, method)(f"/api/ensembles/nope{path}")
        assert response.status_code == 404, (path, response.text)
        assert "unknown ensemble 'nope'" in response.json()["detail"]
    response = ens_client.post(f"/api/ensembles/{NAME}/analyze", json={"distance": "euclid"})
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)
    response = ens_client.get(f"/api/ensembles/{BROKEN}")
    assert response.status_code == 404


def test_readyz_reports_the_broken_ensemble(ens_client):
    response = ens_client.get("/readyz")
    ready = response.json()
    assert response.status_code == 503 and ready["status"] == "not ready"  # a configured ensemble is broken
    assert ready["ensembles"] == 1 and ready["models"] == 2
    assert set(ready["failed"]) == {f"ensembles/{BROKEN}"}
    assert "JSONDecodeError" in ready["failed"][f"ensembles/{BROKEN}"]


def test_unreadable_analysis_is_409_not_500(ensembles_dir, analysed, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(ensembles_dir, root)
    (root / "ensembles" / NAME / "analysis.json").write_text("[1, 2")
    with TestClient(create_app(Settings(models_dir=root, torch_threads=1))) as client:
        assert client.get("/api/ensembles").json()["ensembles"][0]["analysed"] is False
        response = client.get(f"/api/ensembles/{NAME}/hotspots")
        assert response.status_code == 409 and "unreadable" in response.json()["detail"]


def test_members_finishing_after_start_up_are_served_without_a_restart(ensembles_dir, tmp_path):
    root = tmp_path / "running"
    shutil.copytree(ensembles_dir, root)
    manifest_path = root / "ensembles" / NAME / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["members"][1]["status"] = "running"  # as while `ensemble train` is still at it
    manifest_path.write_text(json.dumps(manifest))
    late = f"{NAME}.{MEMBERS[1]}"
    with TestClient(create_app(Settings(models_dir=root, torch_threads=1))) as client:
        assert client.get(f"/api/models/{late}").status_code == 404
        manifest["members"][1]["status"] = "done"
        manifest_path.write_text(json.dumps(manifest))
        detail = client.get(f"/api/ensembles/{NAME}").json()
        assert detail["status_counts"] == {"done": 2}
        assert [m["model_id"] for m in detail["members"]] == [f"{NAME}.{MEMBERS[0]}", late]
        assert client.get(f"/api/models/{late}").json()["ensemble"] == NAME
        response = client.post(f"/api/models/{late}/encode", json={"dataset_index": 3})
        assert response.status_code == 200 and len(response.json()["latent"]) == LATENT
        manifest_path.write_text("{half a manifest")  # a torn read keeps the last good manifest
        assert client.get(f"/api/ensembles/{NAME}").json()["status_counts"] == {"done": 2}


def test_an_api_analysis_is_written_beside_the_ensemble_never_over_its_analysis(ensembles_dir, analysed, ens_client):
    folder = ensembles_dir / "ensembles" / NAME
    assert not (folder / "analysis.json").exists()  # the ensemble's own analysis is only written by the CLI
    (run,) = (folder / "runs").glob("analysis-*")
    assert json.loads((run / "analysis.json").read_text())["members"] == MEMBERS
    assert ens_client.get(f"/api/ensembles/{NAME}/hotspots").status_code == 200  # and it is served


def test_a_member_marked_done_whose_folder_is_broken_reports_failed(ensembles_dir, tmp_path):
    import shutil

    copy = tmp_path / "models"
    shutil.copytree(ensembles_dir / "ensembles" / NAME, copy / "ensembles" / NAME)
    weights = copy / "ensembles" / NAME / MEMBERS[0] / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:64])
    with TestClient(create_app(Settings(models_dir=copy, torch_threads=1))) as client:
        detail = client.get(f"/api/ensembles/{NAME}").json()
    members = {member["name"]: member for member in detail["members"]}
    assert members[MEMBERS[0]]["status"] == "failed" and members[MEMBERS[0]]["model_id"] is None
    assert "does not load" in members[MEMBERS[0]]["error"]
    assert members[MEMBERS[1]]["status"] == "done" and members[MEMBERS[1]]["model_id"] is not None
    assert detail["status_counts"] == {"failed": 1, "done": 1}


def test_similarity_never_serves_a_negative_nmi_and_counts_what_it_clipped(ensembles_dir, analysed, tmp_path):
    """The estimator's values below 0 (nearly independent channels) are served as 0 and those above 1
    as 1; nmi_clipping counts each pair once and gives the extremes; hotspot factor means use the clipped values."""
    root = tmp_path / "copy"
    shutil.copytree(ensembles_dir, root)
    (run,) = (root / "ensembles" / NAME / "runs").glob("analysis-*")  # the API's analysis, made the ensemble's own
    analysis = json.loads((run / "analysis.json").read_text())
    assert not analysis.get("arrays"), "the tiny ensemble's matrices are inline"
    path = root / "ensembles" / NAME / "analysis.json"
    nmi = analysis["nmi"]
    for (a, b), value in {(0, 1): -0.294, (0, 2): -0.05, (1, 2): 1.012}.items():
        nmi[a][b] = nmi[b][a] = value
    analysis["nmi_factor"][0] = [-0.1] * len(analysis["nmi_factor"][0])
    path.write_text(json.dumps(analysis))
    with TestClient(create_app(Settings(models_dir=root, torch_threads=1))) as client:
        sim = client.get(f"/api/ensembles/{NAME}/similarity").json()
        hot = client.get(f"/api/ensembles/{NAME}/hotspots").json()
        schema = client.get("/openapi.json").json()["components"]["schemas"]
    served = [v for row in sim["nmi"] + sim["nmi_factor"] for v in row if v is not None]
    assert min(served) >= 0 and max(served) <= 1
    assert sim["nmi"][0][1] == sim["nmi"][1][0] == 0.0 and sim["nmi"][1][2] == 1.0
    assert sim["nmi_clipping"] == {"below_zero": 2, "min_estimate": -0.294, "above_one": 1, "max_estimate": 1.012}
    assert sim["nmi_factor_clipping"]["below_zero"] >= len(analysis["nmi_factor"][0])
    assert all(v is None or v >= 0 for h in hot["hotspots"] for v in h["factor_nmi"].values())
    assert "clipped to [0, 1]" in schema["EnsembleSimilarity"]["properties"]["nmi"]["description"]


def test_member_curves_are_each_members_card_curves_grouped_by_beta(ens_client, ensembles_dir):
    reply = ens_client.get(f"/api/ensembles/{NAME}/curves")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["source"] == f"ensemble/{NAME}" and body["groups"] == ["beta0.01", "beta0.1"]
    assert [(m["name"], m["group"], m["seed"]) for m in body["members"]] == [
        (name, name.removesuffix("-seed0"), 0) for name in MEMBERS
    ]
    for member in body["members"]:
        card = json.loads((ensembles_dir / "ensembles" / NAME / member["name"] / "card.json").read_text())
        assert member["curves"]["step"] == card["curves"]["step"] == [50, 100, 150]
        assert member["curves"]["loss"] == pytest.approx(card["curves"]["loss"])
    assert ens_client.get("/api/ensembles/nope/curves").status_code == 404
