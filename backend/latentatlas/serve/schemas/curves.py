"""Bodies of the member-curve endpoints: the training curves of several runs of one design (a
zoo variant's seeds, an ensemble's members), read from their cards, to overlay."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MemberCurves(BaseModel):
    name: str = Field(description="the member's folder name, e.g. vae-b4-seed2 or beta4-seed0")
    group: str = Field(description="what its seeds share: the name without its -seedN suffix (a variant, a beta)")
    seed: int | None = Field(description="the N of -seedN (None when the name has none)")
    curves: dict[str, list[float | None]] = Field(
        description="the card's training curves: step, then each logged value (non-finite values as null)"
    )


class MemberCurveSet(BaseModel):
    source: str = Field(description='"zoo/<dataset>" or "ensemble/<id>"')
    groups: list[str] = Field(description="the members' groups, sorted")
    members: list[MemberCurves] = Field(description="every member with a card, by group then seed")
