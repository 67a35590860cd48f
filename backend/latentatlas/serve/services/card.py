"""A served model's card, read defensively (a hand-edited or damaged card loses the bad field,
not the model), and what the server derives from it once per card: the validated metrics and
the dims named after factors (:mod:`latentatlas.evaluation.dim_names`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from pydantic import TypeAdapter, ValidationError

from latentatlas.evaluation.dim_names import factor_dim_names
from latentatlas.serve.schemas import DimName, ModelMetrics

log = logging.getLogger("latentatlas.serve")

_FLOATS = list[float]
CARD_FIELDS: dict[str, TypeAdapter] = {
    "heldout": TypeAdapter(dict[str, float | int]),
    "steps": TypeAdapter(int | None),
    "curves": TypeAdapter(dict[str, list[float | None]]),
    "dataset": TypeAdapter(dict[str, str | int | float | bool | list[str] | list[int] | None]),
    "latent_stats": TypeAdapter(dict[str, _FLOATS]),
}
"""The card fields the server reads, with the types it needs."""


def sanitize_card(model_id: str, card: object, latent_dim: int) -> dict:
    """The card with every field the server reads checked against its type: a field of the
    wrong type (a hand-edited or damaged card) is dropped and logged, so the model is served
    without it instead of breaking the model list for everyone."""
    if not isinstance(card, dict):
        log.warning("model %s: card.json is not a JSON object; serving without a card", model_id)
        return {}
    clean = dict(card)
    for name, adapter in CARD_FIELDS.items():
        if name in clean:
            try:
                adapter.validate_python(clean[name], strict=False)
            except ValidationError as error:
                log.warning(
                    "model %s: ignoring the card's %r (%s)", model_id, name, error.errors()[0].get("msg", "invalid")
                )
                del clean[name]
    stats = clean.get("latent_stats", {})
    if any(len(values) != latent_dim for values in stats.values()):
        log.warning("model %s: ignoring the card's latent_stats (not %d values per statistic)", model_id, latent_dim)
        del clean["latent_stats"]
    return clean


@dataclass(frozen=True)
class CardFacts:
    """What the server derives from one version of a card (a metrics job replaces the card)."""

    card: dict
    metrics: ModelMetrics | None
    dim_names: list[DimName | None] | None

    @classmethod
    def of(cls, model_id: str, card: dict, posterior_scale: list[float] | None) -> CardFacts:
        metrics = _metrics(model_id, card)
        return cls(card=card, metrics=metrics, dim_names=_dim_names(metrics, posterior_scale))


def _metrics(model_id: str, card: dict) -> ModelMetrics | None:
    """The card's metrics; None when not computed yet, or unreadable (logged)."""
    metrics = card.get("metrics")
    if metrics is None:
        return None
    try:
        return ModelMetrics.model_validate(metrics)
    except ValidationError as error:
        log.warning("model %s: ignoring the card's metrics (%s)", model_id, error)
        return None


def _dim_names(metrics: ModelMetrics | None, posterior_scale: list[float] | None) -> list[DimName | None] | None:
    """Per dim the metrics cover, its factor by InfoMEC's NMI where named; None without an NMI matrix."""
    if metrics is None:
        return None
    nmi = np.asarray(metrics.matrices.get("infomec_nmi", []), dtype=np.float64)
    if nmi.ndim != 2 or not nmi.size:
        return None
    active = metrics.matrices.get("infomec_active")
    names = factor_dim_names(nmi, metrics.factor_names, active, posterior_scale)  # type: ignore[arg-type]
    return [DimName(factor=name[0], nmi=round(name[1], 4)) if name else None for name in names]
