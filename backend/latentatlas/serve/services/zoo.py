"""The seeded model zoo's comparison table (``latentatlas zoo compare`` writes it to
``<models>/zoo/table.json``), read for the API; an optional part, so a missing or unreadable
table is ``available: false`` with the reason, never an error."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from latentatlas.serve.schemas import ZooTable

ZOO_TABLE = ("zoo", "table.json")


def read_zoo_table(models_dir: Path) -> ZooTable:
    """The table under ``models_dir``, or ``available: false`` with why there is none."""
    path = models_dir.joinpath(*ZOO_TABLE)
    if not path.is_file():
        return ZooTable(
            available=False, reason="no model zoo here: `latentatlas zoo compare` writes models/zoo/table.json"
        )
    try:
        return ZooTable.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as error:
        return ZooTable(available=False, reason=f"the zoo's table.json is unreadable ({type(error).__name__})")
