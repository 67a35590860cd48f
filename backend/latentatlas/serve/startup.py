"""What ``latentatlas serve`` runs: an ASGI app that is ready once the models folder is indexed.

Indexing reads each folder's ``config.json`` and ``card.json`` (and a codes model's codebooks from
its weights file) and needs no torch: :class:`StartingServer` indexes, answers ``/healthz`` and
``/readyz`` at once, and meanwhile builds the full API (:func:`latentatlas.serve.app.create_app`,
whose modules import torch, about 1.5 s of a 2-core machine's start) in a worker thread, over the
same index. Every other request that arrives before the API is built waits for it, then is served
by it; from then on the full app answers everything, ``/readyz`` included. If building the API
fails, ``/readyz`` says why (503) and other requests get 503 too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio

from latentatlas.serve.admission import Admission
from latentatlas.serve.derived_cache import DerivedCache
from latentatlas.serve.ensemble_registry import EnsembleRegistry
from latentatlas.serve.readiness import readiness
from latentatlas.serve.registry import ModelRegistry
from latentatlas.serve.security_headers import SecurityHeaders
from latentatlas.store.leftovers import clean_leftovers

if TYPE_CHECKING:
    from fastapi import FastAPI

    from latentatlas.config import Settings

log = logging.getLogger("latentatlas.serve")

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


class ModelIndex(NamedTuple):
    """The models folder indexed: its models (weights load on first use) and its ensembles."""

    registry: ModelRegistry
    ensembles: EnsembleRegistry


def index_models(settings: Settings) -> ModelIndex:
    """Index ``settings.models_dir``: every model folder's config and card, and the ensembles (their
    finished members join the registry as ``NAME.MEMBER``). Loads no weights, imports no torch."""
    registry = ModelRegistry(
        settings.models_dir,
        settings.device,
        Admission(settings.max_inflight_per_model),
        memory_budget=settings.model_memory_mb * 2**20,
        cache=DerivedCache(settings.cache_dir),
    )
    return ModelIndex(registry, EnsembleRegistry(settings.models_dir, registry))


def check_device(name: str) -> None:
    """A GPU asked for by name (``cuda``, ``cuda:N``) must be there: raises ValueError now, so the
    server does not start without it. ``auto`` and ``cpu`` cannot fail (and need no torch)."""
    if name not in ("auto", "cpu"):
        from latentatlas.devices import resolve_device

        resolve_device(name)


class StartingServer:
    """The ASGI app of ``latentatlas serve`` (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index: ModelIndex | None = None
        self.app: FastAPI | None = None
        self.failure: str | None = None  # why the API could not be built
        self._built = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self.app is None:
            if scope["type"] == "http" and scope["path"] in HEALTH_PATHS:
                await self._health(scope["path"], send)
                return
            await self._built.wait()
        if self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011, "reason": "the server failed to start"})
        else:
            await _json(send, 503, {"detail": f"the server failed to start: {self.failure}"})

    async def _health(self, path: str, send: Any) -> None:
        if path == "/healthz":
            await _json(send, 200, {"status": "ok"})
            return
        if self.failure is not None:
            await _json(send, 503, {"status": "not ready", "reason": f"the server failed to start: {self.failure}"})
            return
        status, body = readiness(*(self.index or (None, None)))
        await _json(send, status, body)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await receive()  # lifespan.startup
        try:
            check_device(self.settings.device)
            clean_leftovers(self.settings.models_dir, self.settings.state_dir)
            self.index = index_models(self.settings)
        except Exception as error:
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": f"{type(error).__name__}: {error}"})
            return
        await send({"type": "lifespan.startup.complete"})
        shutdown = asyncio.ensure_future(receive())
        async with AsyncExitStack() as stack:
            try:
                app = await anyio.to_thread.run_sync(self._create_app)
                await stack.enter_async_context(app.router.lifespan_context(app))
                self.app = app
            except Exception as error:
                log.exception("building the API failed")
                self.failure = f"{type(error).__name__}: {error}"
            finally:
                self._built.set()
            await shutdown  # lifespan.shutdown: the full app's lifespan ends as the stack closes
        await send({"type": "lifespan.shutdown.complete"})

    def _create_app(self) -> FastAPI:
        from latentatlas.serve.app import create_app  # torch and the API's modules: after ready

        return create_app(self.settings, self.index)


async def _json(send: Any, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *SecurityHeaders.HEADERS,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
