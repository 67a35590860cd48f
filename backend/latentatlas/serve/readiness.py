"""``/readyz``'s answer, computed from the index alone (no torch): the models folder is indexed,
at least one model is served and no configured model or ensemble failed. Shared by the health
router and :mod:`latentatlas.serve.startup`, which answers it while the API's modules still load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentatlas.serve.ensemble_registry import EnsembleRegistry
    from latentatlas.serve.registry import ModelRegistry

STARTING = {"status": "starting", "reason": "the models folder is still being indexed"}


def readiness(registry: ModelRegistry | None, ensembles: EnsembleRegistry | None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 ``ready``, else 503 ``starting`` or ``not ready`` with the reason
    and the folders that failed to load and why (models, and ensembles as ``ensembles/NAME``)."""
    if registry is None:
        return 503, STARTING
    failed = {**registry.failed, **(ensembles.failed if ensembles is not None else {})}
    count = len(ensembles.services) if ensembles is not None else 0
    served = registry.models
    body = {"models": len(served), "loaded": len(registry.loaded), "ensembles": count, "failed": failed}
    if registry.problem or not served or failed:
        reason = registry.problem or (
            f"{len(failed)} model folder(s) failed to load" if failed else "the models folder holds no model"
        )
        return 503, {"status": "not ready", "reason": reason, **body}
    return 200, {"status": "ready", **body}
