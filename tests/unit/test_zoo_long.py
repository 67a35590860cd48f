"""The shipped long-run zoo (``models/zoo-long``, issue 22): Shapes3D, 4 variants x 3 seeds, every
member trained 20,000 steps and scored along training (``metric_curve``), its table with the tested
statements. Cards and tables only: no weights are shipped."""

from __future__ import annotations

import json
from pathlib import Path

ZOO = Path(__file__).resolve().parents[2] / "models" / "zoo-long"


def test_every_member_trained_the_long_budget_and_was_scored_along_the_way():
    manifest = json.loads((ZOO / "zoo.json").read_text())
    names = sorted(member["name"] for member in manifest["members"])
    variants = {name.split("/")[1].rsplit("-seed", 1)[0] for name in names}
    assert variants == {"ae", "vae-b4", "qlae", "qlae-wd0"} and len(names) == 12
    for name in names:
        card = json.loads((ZOO / name / "card.json").read_text())
        assert card["steps"] >= 20_000, name
        curve = card["metric_curve"]
        assert len(curve) >= 6 and [p["step"] for p in curve] == sorted(p["step"] for p in curve), name
        assert curve[-1]["step"] == card["steps"] and "infomec.infom" in curve[0]["values"], name
        assert card["zoo"]["evaluation"]["scores"], name
        assert not list((ZOO / name).glob("*.safetensors")), f"{name}: weights are not shipped"


def test_the_table_records_its_tested_statements():
    table = json.loads((ZOO / "table.json").read_text())
    assert table["null_tests"] and table["equivalence_tests"] and table["curves"]
