"""/api/metric-catalogue: every disentanglement score the server computes, declared once in
``latentatlas.metrics.catalogue``: what it is, what it costs, its null and ceiling. The app's
bars, tables and labels read it."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter

from latentatlas.serve.schemas.catalogue import MetricCatalogue

router = APIRouter(prefix="/api", tags=["metrics"])


@cache
def _catalogue() -> MetricCatalogue:
    """Read on the first request, not at start-up: the catalogue imports the metrics (scikit-learn,
    about a second), which the server otherwise loads with its first metrics job."""
    from latentatlas.evaluation.disentanglement import metric_catalogue_json

    return MetricCatalogue.model_validate(metric_catalogue_json())


@router.get("/metric-catalogue", response_model=MetricCatalogue)
def metric_catalogue() -> MetricCatalogue:
    """Every metric and score: label, group, paper, cost, compute function, null and ceiling."""
    return _catalogue()
