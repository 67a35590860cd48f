"""GET /api/metric-catalogue serves exactly the catalogue (latentatlas.metrics.catalogue)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from latentatlas.config import Settings
from latentatlas.metrics.catalogue import catalogue_json, labels
from latentatlas.serve.app import create_app


def test_the_catalogue_is_served_exactly(tmp_path):
    with TestClient(create_app(Settings(models_dir=tmp_path, torch_threads=1))) as client:
        reply = client.get("/api/metric-catalogue")
    assert reply.status_code == 200
    assert reply.json() == catalogue_json()
    served = {score["key"]: score["label"] for metric in reply.json()["metrics"] for score in metric["scores"]}
    assert served == labels()
