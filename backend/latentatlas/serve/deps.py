"""Request-scoped helpers shared by the routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect, HTTPConnection

from latentatlas.config import Settings
from latentatlas.errors import NotFoundError
from latentatlas.serve.ensembles import EnsembleRegistry, EnsembleService
from latentatlas.serve.jobs import JobManager
from latentatlas.serve.registry import ModelRegistry
from latentatlas.serve.services.core import ModelService

log = logging.getLogger("latentatlas.serve")


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


def get_ensembles(connection: HTTPConnection) -> EnsembleRegistry:
    return connection.app.state.ensembles


def get_ensemble(ensemble_id: str, request: Request) -> EnsembleService:
    ensembles = get_ensembles(request)
    service = ensembles.get(ensemble_id)
    if service is None:
        raise NotFoundError(f"unknown ensemble {ensemble_id[:100]!r}: GET /api/ensembles lists the served ensembles")
    return service


DRAIN_BYTES = 64 * 1024 * 1024
"""An over-limit body up to this size is read and discarded before the 413, so that clients that
send the whole body before reading (Python's urllib) see the 413, not a reset connection."""


async def _drain(stream: AsyncIterator[bytes], most: int, chunk_timeout: float | None) -> None:
    """Read and discard up to ``most`` more bytes of a body (stopping at a stall or a disconnect)."""
    read = 0
    try:
        while read < most:
            async with asyncio.timeout(chunk_timeout):
                read += len(await anext(stream))
    except (StopAsyncIteration, TimeoutError, ClientDisconnect):
        pass


async def read_body_limited(request: Request, limit: int, chunk_timeout: float | None = None) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes before reading them all. A
    client that sends nothing for ``chunk_timeout`` seconds mid-body is dropped (408), so stalled
    uploads never hold a connection for ever; one that goes away mid-upload is logged in one line
    (no traceback) and answered 400, which nobody reads."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        await _drain(request.stream(), min(int(declared), DRAIN_BYTES), chunk_timeout)
        raise HTTPException(413, f"request body is {declared} bytes; the upload limit is {limit} bytes", headers={"Connection": "close"})
    chunks, size = [], 0
    stream = request.stream()
    try:
        while True:
            try:
                async with asyncio.timeout(chunk_timeout):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                break
            except TimeoutError:
                log.info("dropped a stalled upload to %s after %d bytes (nothing for %s s)", request.url.path, size, chunk_timeout)
                raise HTTPException(408, f"the upload stalled: nothing arrived for {chunk_timeout} s", headers={"Connection": "close"}) from None
            size += len(chunk)
            if size > limit:
                await _drain(stream, DRAIN_BYTES - size, chunk_timeout)
                raise HTTPException(413, f"request body exceeds the upload limit of {limit} bytes", headers={"Connection": "close"})
            chunks.append(chunk)
    except ClientDisconnect:
        log.info("client disconnected during an upload to %s after %d bytes", request.url.path, size)
        raise HTTPException(400, "the client disconnected before the upload was complete") from None
    return b"".join(chunks)


async def replay(body: bytes) -> AsyncIterator[bytes]:
    """An already-read body as the async stream a form parser expects."""
    yield body
