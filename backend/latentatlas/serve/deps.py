"""Request-scoped helpers shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

from latentatlas.config import Settings
from latentatlas.serve.ensembles import EnsembleRegistry, EnsembleService
from latentatlas.serve.jobs import JobManager
from latentatlas.serve.registry import ModelRegistry, ModelService


def describe_errors(errors: list[dict]) -> str:
    """Pydantic errors as one readable sentence each, without echoing the input (it may hold NaN or be huge)."""
    parts = []
    for problem in errors:
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts)


def get_settings(connection: HTTPConnection) -> Settings:
    return connection.app.state.settings


def get_registry(connection: HTTPConnection) -> ModelRegistry:
    return connection.app.state.registry


def get_jobs(connection: HTTPConnection) -> JobManager:
    return connection.app.state.jobs


def get_service(model_id: str, request: Request) -> ModelService:
    service = get_registry(request).get(model_id)
    if service is None:
        known = ", ".join(sorted(get_registry(request).services)) or "none"
        raise HTTPException(404, f"unknown model {model_id!r}; served models: {known}")
    return service


def get_ensembles(connection: HTTPConnection) -> EnsembleRegistry:
    return connection.app.state.ensembles


def get_ensemble(ensemble_id: str, request: Request) -> EnsembleService:
    ensembles = get_ensembles(request)
    service = ensembles.get(ensemble_id)
    if service is None:
        known = ", ".join(sorted(ensembles.services)) or "none"
        raise HTTPException(404, f"unknown ensemble {ensemble_id!r}; served ensembles: {known}")
    return service


async def read_body_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body is {declared} bytes; the upload limit is {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body exceeds the upload limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def replay(body: bytes) -> AsyncIterator[bytes]:
    """An already-read body as the async stream a form parser expects."""
    yield body
