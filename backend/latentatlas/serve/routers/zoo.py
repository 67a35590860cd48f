"""/api/zoo: the seeded model zoo's comparison table (``latentatlas zoo compare`` writes it to
``<models>/zoo/table.json``): per dataset and variant, every score's mean, sd, 95 % interval and
per-seed values, its shuffled-rows null and the dataset's ceiling; the claims with their tests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from latentatlas.config import Settings
from latentatlas.serve.deps import get_settings
from latentatlas.serve.schemas import ZooTable, errors
from latentatlas.serve.schemas.curves import MemberCurveSet
from latentatlas.serve.services.member_curves import member_curve_set, zoo_members
from latentatlas.serve.services.zoo import read_zoo_table

router = APIRouter(prefix="/api/zoo", tags=["zoo"], responses=errors(400))


@router.get("", response_model=ZooTable)
def zoo_table(settings: Annotated[Settings, Depends(get_settings)]) -> ZooTable:
    """The zoo's comparison table; ``available: false`` when this server's models folder has none
    (an optional part, so not a 404 for the app to stumble on)."""
    return read_zoo_table(settings.models_dir)


@router.get("/curves", response_model=MemberCurveSet, responses=errors(404, 422))
def zoo_curves(
    settings: Annotated[Settings, Depends(get_settings)],
    dataset: Annotated[str, Query(max_length=100, description="a dataset the zoo was trained on, e.g. dsprites")],
) -> MemberCurveSet:
    """The training curves of every zoo member on ``dataset`` (from their cards), grouped by
    variant (the member's name without -seedN), to overlay the seeds of a variant."""
    return member_curve_set(f"zoo/{dataset}", zoo_members(settings.models_dir, dataset))
