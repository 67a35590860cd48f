from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from latentatlas.serve.readiness import readiness
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
    status, body = readiness(
        getattr(request.app.state, "registry", None), getattr(request.app.state, "ensembles", None)
    )
    return JSONResponse(body, status_code=status)
