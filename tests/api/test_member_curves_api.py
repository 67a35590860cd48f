"""GET /api/zoo/curves?dataset=...: every zoo member's training curves from its card, grouped by
variant (the name without -seedN) for overlaying seeds; non-finite values become null, members
without a readable card are left out, an unknown dataset is a 404 naming the ones there."""

from __future__ import annotations

import json

import numpy as np
from fastapi.testclient import TestClient

from latentatlas.config import Settings
from latentatlas.serve.app import create_app


def _member(root, name: str, curves: dict | None) -> None:
    folder = root / "zoo" / "dsprites" / name
    folder.mkdir(parents=True)
    if curves is not None:
        (folder / "card.json").write_text(json.dumps({"curves": curves}))


def test_zoo_curves_by_variant_and_seed(tmp_path):
    rng = np.random.default_rng(0)
    expected = {}
    for name in ("vae-b4-seed1", "vae-b4-seed0", "ae-seed0"):
        loss = rng.random(4).tolist()
        expected[name] = loss
        _member(tmp_path, name, {"step": [1, 2, 3, 4], "loss": loss})
    _member(tmp_path, "tcvae-seed0", {"step": [1, 2], "loss": [float("nan"), -1.5]})
    _member(tmp_path, "qlae-seed0", None)  # still training: no card
    with TestClient(create_app(Settings(models_dir=tmp_path, torch_threads=1))) as client:
        reply = client.get("/api/zoo/curves", params={"dataset": "dsprites"})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["source"] == "zoo/dsprites" and body["groups"] == ["ae", "tcvae", "vae-b4"]
        members = {m["name"]: m for m in body["members"]}
        assert [m["name"] for m in body["members"]] == ["ae-seed0", "tcvae-seed0", "vae-b4-seed0", "vae-b4-seed1"]
        for name, loss in expected.items():
            assert members[name]["curves"]["loss"] == loss
        assert members["vae-b4-seed1"]["group"] == "vae-b4" and members["vae-b4-seed1"]["seed"] == 1
        assert members["tcvae-seed0"]["curves"]["loss"] == [None, -1.5]

        missing = client.get("/api/zoo/curves", params={"dataset": "../etc"})
        assert missing.status_code == 404 and "dsprites" in missing.json()["detail"]
        assert client.get("/api/zoo/curves").status_code == 422  # the dataset is required


def test_no_zoo_is_a_404_that_says_so(tmp_path):
    with TestClient(create_app(Settings(models_dir=tmp_path, torch_threads=1))) as client:
        reply = client.get("/api/zoo/curves", params={"dataset": "dsprites"})
        assert reply.status_code == 404 and "no zoo" in reply.json()["detail"]
