"""The comparison table of ``latentatlas compare``: the models' reconstruction and
disentanglement scores, read from their cards (what training and ``latentatlas evaluate`` wrote)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from latentatlas.metrics.catalogue import labels, score_value

# The scores ``latentatlas compare`` shows, by flat key; their headers are the catalogue's labels.
_COMPARED_SCORES = (
    "infomec.infom",
    "infomec.infoc",
    "infomec.infoe",
    "mig",
    "dci.disentanglement",
    "dci.completeness",
    "dci.informativeness_test",
)


def _card_score(card: dict, key: str) -> float | None:
    return score_value(card.get("metrics", {}).get("values", {}), key)


# The comparison table of ``latentatlas compare``: (column, how to read it from a card).
COMPARISON_COLUMNS: tuple[tuple[str, Callable[[dict], float | int | str | None]], ...] = (
    ("model", lambda card: card.get("id")),
    ("kind", lambda card: card.get("kind")),
    ("steps", lambda card: card.get("steps")),
    ("batch", lambda card: card.get("batch_size")),
    ("PSNR dB", lambda card: card.get("heldout", {}).get("psnr_db")),
    *((labels()[key], partial(_card_score, key=key)) for key in _COMPARED_SCORES),
)


def comparison_table(cards: list[dict]) -> str:
    """A Markdown table of the models' reconstruction and disentanglement scores (what
    ``latentatlas evaluate`` and training wrote into their cards); "–" where a card lacks one."""

    def cell(value: float | int | str | None, column: str) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.1f}" if column == "PSNR dB" else f"{value:.3f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    lines = ["| " + " | ".join(name for name, _ in COMPARISON_COLUMNS) + " |", "|" + "---|" * len(COMPARISON_COLUMNS)]
    lines += ["| " + " | ".join(cell(read(card), name) for name, read in COMPARISON_COLUMNS) + " |" for card in cards]
    return "\n".join(lines)
