"""The training curves of several members of one design (a zoo's seeds, an ensemble's members),
read from their cards so that a page can overlay them; a member without a readable card is left
out (it has not finished), never an error."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from latentatlas.errors import NotFoundError
from latentatlas.serve.schemas.curves import MemberCurves, MemberCurveSet
from latentatlas.store.folders import CARD_FILE

SEED_SUFFIX = re.compile(r"^(?P<group>.+)-seed(?P<seed>\d+)$")


def _finite(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def read_member(name: str, folder: Path) -> MemberCurves | None:
    """One member's curves from ``folder``'s card (None: no readable card with curves)."""
    try:
        card = json.loads((folder / CARD_FILE).read_text())
    except (OSError, ValueError):
        return None
    curves = card.get("curves") if isinstance(card, dict) else None
    if not isinstance(curves, dict) or not isinstance(curves.get("step"), list):
        return None
    match = SEED_SUFFIX.match(name)
    return MemberCurves(
        name=name,
        group=match["group"] if match else name,
        seed=int(match["seed"]) if match else None,
        curves={key: [_finite(v) for v in values] for key, values in curves.items() if isinstance(values, list)},
    )


def member_curve_set(source: str, members: list[tuple[str, Path]]) -> MemberCurveSet:
    """The curves of ``members`` ((name, folder) pairs), by group then seed."""
    read = [m for m in (read_member(name, folder) for name, folder in members) if m is not None]
    read.sort(key=lambda m: (m.group, m.seed if m.seed is not None else -1, m.name))
    return MemberCurveSet(source=source, groups=sorted({m.group for m in read}), members=read)


def zoo_members(models_dir: Path, dataset: str) -> list[tuple[str, Path]]:
    """(name, folder) of every member folder of the zoo under ``models_dir`` on ``dataset``; 404
    naming the datasets there when it has none (the name is matched against the folder's
    listing, never joined into a path unchecked)."""
    root = models_dir / "zoo"
    datasets = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if dataset not in datasets:
        have = ", ".join(datasets) or "none (no zoo in this models folder)"
        raise NotFoundError(f"the zoo has no members on dataset {dataset!r}; it has: {have}")
    return sorted((p.name, p) for p in (root / dataset).iterdir() if p.is_dir())
