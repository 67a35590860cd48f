"""Request-scoped helpers shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from latentatlas.config import Settings
from latentatlas.errors import NotFoundError
from latentatlas.serve.ensemble_registry import EnsembleRegistry
from latentatlas.serve.ensembles import EnsembleService
from latentatlas.serve.jobs import JobManager
from latentatlas.serve.registry import ModelRegistry
from latentatlas.serve.services.core import ModelService

Part = TypeVar("Part")


def get_settings(connection: HTTPConnection) -> Settings:
    return connection.app.state.settings


def get_registry(connection: HTTPConnection) -> ModelRegistry:
    return connection.app.state.registry


def get_jobs(connection: HTTPConnection) -> JobManager:
    return connection.app.state.jobs


def get_service(model_id: str, request: Request) -> ModelService:
    """The model's service, its weights loaded on first use (a sync dependency: in a worker thread)."""
    service = get_registry(request).get(model_id)
    if service is None:
        raise NotFoundError(f"unknown model {model_id[:100]!r}: GET /api/models lists the served models")
    return service


def model_part(kind: type[Part]) -> Callable[[ModelService], Part]:
    """A dependency: the model's capability module ``kind`` (one per model, see ModelService.part)."""

    def part(service: Annotated[ModelService, Depends(get_service)]) -> Part:
        return service.part(kind)

    return part


AppSettings = Annotated[Settings, Depends(get_settings)]


def get_ensembles(connection: HTTPConnection) -> EnsembleRegistry:
    return connection.app.state.ensembles


def get_ensemble(ensemble_id: str, request: Request) -> EnsembleService:
    ensembles = get_ensembles(request)
    service = ensembles.get(ensemble_id)
    if service is None:
        raise NotFoundError(f"unknown ensemble {ensemble_id[:100]!r}: GET /api/ensembles lists the served ensembles")
    return service


async def replay(body: bytes) -> AsyncGenerator[bytes, None]:
    """An already-read body as the async stream a form parser expects."""
    yield body
