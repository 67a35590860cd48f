"""/api/zoo: the seeded model zoo's comparison table (``latentatlas zoo compare`` writes it to
``<models>/zoo/table.json``): per dataset and variant, every score's mean, sd, 95 % interval and
per-seed values, its shuffled-rows null and the dataset's ceiling; the claims with their tests."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, ValidationError

from latentatlas.config import Settings
from latentatlas.serve.deps import get_settings
from latentatlas.serve.schemas import errors

router = APIRouter(prefix="/api/zoo", tags=["zoo"], responses=errors(400))
ZOO_TABLE = ("zoo", "table.json")


class ZooTable(BaseModel):
    """The zoo's comparison, as ``zoo compare`` wrote it (scores by dotted metric name), or
    ``available: false`` with the reason when this server has none."""

    available: bool = True
    reason: str | None = Field(None, description="why there is no zoo table (available: false)")
    zoo: str | None = None
    estimator: str | None = Field(None, description="the InfoMEC estimator every member was scored with")
    protocol: dict = {}
    budget: dict = Field({}, description="steps, batch size, images per member and their fraction of the paper's")
    test: str | None = Field(None, description="the test behind each claim")
    datasets: dict[str, dict] = Field({}, description="dataset -> {variants: name -> {scores: metric -> {n, mean, sd, ci95, values}, null_mean, ...}, ceiling}")
    claims: list[dict] = Field([], description="each claim x dataset x metric: diff, 95 % interval, Welch's p, Holm-adjusted p, verdict")


@router.get("", response_model=ZooTable)
def zoo_table(settings: Annotated[Settings, Depends(get_settings)]) -> ZooTable:
    """The zoo's comparison table; ``available: false`` when this server's models folder has none
    (an optional part, so not a 404 for the app to stumble on)."""
    path = settings.models_dir.joinpath(*ZOO_TABLE)
    if not path.is_file():
        return ZooTable(available=False, reason="no model zoo here: `latentatlas zoo compare` writes models/zoo/table.json")
    try:
        return ZooTable.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as error:
        return ZooTable(available=False, reason=f"the zoo's table.json is unreadable ({type(error).__name__})")
