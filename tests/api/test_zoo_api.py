"""GET /api/zoo: the zoo's comparison table from <models>/zoo/table.json; available: false without one."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from latentatlas.config import Settings
from latentatlas.serve.app import create_app

TABLE = {
    "zoo": "zoo",
    "estimator": "InfoMEC continuous (k-NN)",
    "protocol": {"samples": 100},
    "budget": {"steps": 10, "batch_size": 4},
    "test": "Welch",
    "claims": [],
    "datasets": {
        "dsprites": {
            "variants": {
                "ae": {
                    "scores": {"mig": {"n": 2, "mean": 0.1, "sd": 0.01, "ci95": [0.0, 0.2], "values": [0.09, 0.11]}},
                    "null_mean": {"mig": 0.01},
                }
            },
            "ceiling": {"mig": 0.886},
        }
    },
    "null_tests": [{"dataset": "dsprites", "variant": "ae", "metric": "mig", "p": 0.01, "verdict": "clears its null"}],
    "equivalence_tests": [],
    "families": {"dsprites": {"id": "zoo/dsprites/claims-0123456789ab", "size": 1}},
}


def test_zoo_table_is_served_when_present(tmp_path):
    settings = Settings(models_dir=tmp_path, torch_threads=1)
    with TestClient(create_app(settings)) as client:
        missing = client.get("/api/zoo")
        assert (
            missing.status_code == 200
            and missing.json()["available"] is False
            and "zoo compare" in missing.json()["reason"]
        )
        (tmp_path / "zoo").mkdir()
        (tmp_path / "zoo" / "table.json").write_text(json.dumps(TABLE))
        reply = client.get("/api/zoo")
        assert reply.status_code == 200 and reply.json()["available"] is True
        assert reply.json()["datasets"]["dsprites"]["ceiling"] == {"mig": 0.886}
        for key in ("null_tests", "equivalence_tests", "families"):  # the tested statements reach the app
            assert reply.json()[key] == TABLE[key], key
        (tmp_path / "zoo" / "table.json").write_text("{not json")
        broken = client.get("/api/zoo").json()
        assert broken["available"] is False and "unreadable" in broken["reason"]
