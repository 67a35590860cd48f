from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from latentatlas.serve.deps import get_registry
from latentatlas.serve.schemas import errors

router = APIRouter(tags=["health"], responses=errors(400))


@router.get("/healthz")
async def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses=errors(503))
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the models folder is indexed (weights load on first use), at least one model is
    served and no configured model (or ensemble, as ``ensembles/NAME``) failed. 200 ``ready``; otherwise 503 ``not ready`` with the reason and
    the folders that failed to load and why. (``/healthz`` is liveness.)"""
    registry = getattr(request.app.state, "registry", None)
    if registry is None:
        return JSONResponse(
            {"status": "starting", "reason": "the models folder is still being indexed"}, status_code=503
        )
    registry = get_registry(request)
    ensembles = getattr(request.app.state, "ensembles", None)
    failed = {**registry.failed, **(ensembles.failed if ensembles is not None else {})}
    count = len(ensembles.services) if ensembles is not None else 0
    served = registry.models
    body = {"models": len(served), "loaded": len(registry.loaded), "ensembles": count, "failed": failed}
    if registry.problem or not served or failed:
        reason = registry.problem or (
            f"{len(failed)} model folder(s) failed to load" if failed else "the models folder holds no model"
        )
        return JSONResponse({"status": "not ready", "reason": reason, **body}, status_code=503)
    return JSONResponse({"status": "ready", **body})
