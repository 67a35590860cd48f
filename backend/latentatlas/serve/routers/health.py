from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from latentatlas.serve.deps import get_registry

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Readiness: the registry is loaded; lists models (and ensembles, as
    ``ensembles/NAME``) that failed to load and why."""
    registry = getattr(request.app.state, "registry", None)
    if registry is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    registry = get_registry(request)
    ensembles = getattr(request.app.state, "ensembles", None)
    failed = {**registry.failed, **(ensembles.failed if ensembles is not None else {})}
    count = len(ensembles.services) if ensembles is not None else 0
    return JSONResponse({"status": "ready", "models": len(registry.services), "ensembles": count, "failed": failed})
