"""WebSocket /api/models/{id}/live: decode latents while a slider is dragged.

The client may send latents faster than they decode; only the newest pending one is
decoded (latest wins) and stale ones are dropped, so the image follows the hand without
a growing queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from latentatlas.errors import InputError, NotFoundError, OverloadedError
from latentatlas.imaging import to_data_url
from latentatlas.serve.admission import RETRY_AFTER_SECONDS
from latentatlas.serve.deps import get_registry, get_settings
from latentatlas.serve.errors import describe_errors
from latentatlas.serve.schemas import LiveRequest
from latentatlas.serve.services.core import ModelService

log = logging.getLogger("latentatlas.serve")
router = APIRouter(tags=["live"])
UNKNOWN_MODEL_CLOSE_CODE = 4404
IDLE_CLOSE_CODE = 4408


class LatestWins:
    """A one-slot mailbox: ``put`` replaces what is pending, ``take`` waits for something."""

    def __init__(self) -> None:
        self._item: dict | None = None
        self._ready = asyncio.Event()

    def put(self, item: dict) -> None:
        self._item = item
        self._ready.set()

    async def take(self) -> dict:
        await self._ready.wait()
        self._ready.clear()
        item, self._item = self._item, None
        assert item is not None  # put stores an item before it sets the event
        return item


def _parse(text: str) -> dict:
    """A client message -> {"latent": ..., "seq": ...} or {"error": ..., "seq": ...}."""
    try:
        raw = json.loads(text)
    except ValueError:
        return {"seq": None, "error": 'messages must be JSON: {"latent": [...], "seq": n}'}
    seq = raw.get("seq") if isinstance(raw, dict) and isinstance(raw.get("seq"), int) else None
    try:
        request = LiveRequest.model_validate(raw)
    except ValidationError as error:
        return {"seq": seq, "error": f"invalid message: {describe_errors(error.errors())}"}
    return {"seq": request.seq, "latent": request.latent}


async def _decode_loop(websocket: WebSocket, service: ModelService, mailbox: LatestWins) -> None:
    while True:
        item = await mailbox.take()
        if "error" in item:
            await websocket.send_json(item)
            continue
        started = time.perf_counter()
        try:
            png = await run_in_threadpool(service.decode_png, item["latent"])
        except (InputError, OverloadedError) as error:
            await websocket.send_json({"seq": item["seq"], "error": str(error)})
            continue
        milliseconds = (time.perf_counter() - started) * 1000
        await websocket.send_json({"seq": item["seq"], "image": to_data_url(png), "ms": round(milliseconds, 3)})


class SessionBudget:
    """Counts the open live sessions, in all and per client address; ``admit`` says why one is refused."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self.open: dict[str, int] = {}

    def admit(self, client: str) -> str | None:
        if sum(self.open.values()) >= self.total:
            return f"the server holds {self.total} live sessions, its limit: retry shortly"
        if self.open.get(client, 0) >= self.per_client:
            return f"this client holds {self.per_client} live sessions, the limit per client: close one first"
        self.open[client] = self.open.get(client, 0) + 1  # the event loop is single-threaded: no lock needed
        return None

    def release(self, client: str) -> None:
        self.open[client] -= 1
        if not self.open[client]:
            del self.open[client]


@router.websocket("/api/models/{model_id}/live")
async def live(websocket: WebSocket, model_id: str) -> None:
    settings = get_settings(websocket)
    sessions: SessionBudget = websocket.app.state.live_sessions
    client = websocket.client.host if websocket.client else "unknown"
    refused = sessions.admit(client)
    if refused is not None:
        log.info("refused a live session from %s: %s", client, refused)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        await websocket.send_denial_response(JSONResponse({"detail": refused}, status_code=503, headers=headers))
        return
    try:
        try:  # loading a model's weights (first use) blocks: a worker thread does it
            service = await run_in_threadpool(get_registry(websocket).get, model_id)
        except NotFoundError:  # its folder failed to load
            service = None
        await _session(websocket, service, model_id, settings.live_idle_seconds)
    finally:
        sessions.release(client)


async def _session(websocket: WebSocket, service: ModelService | None, model_id: str, idle_seconds: float) -> None:
    await websocket.accept()
    if service is None:
        await websocket.close(
            code=UNKNOWN_MODEL_CLOSE_CODE, reason=f"unknown model {model_id[:60]!r}"
        )  # a close reason holds 123 bytes at most
        return
    mailbox = LatestWins()
    decoder = asyncio.create_task(_decode_loop(websocket, service, mailbox))
    try:
        while True:
            try:
                async with asyncio.timeout(idle_seconds):
                    message = await websocket.receive()
            except TimeoutError:
                log.info("closed a live session to %s idle for %s s", model_id[:60], idle_seconds)
                await websocket.close(code=IDLE_CLOSE_CODE, reason=f"idle for {idle_seconds:g} s")
                break
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is None:
                mailbox.put({"seq": None, "error": 'send text frames holding JSON: {"latent": [...], "seq": n}'})
                continue
            mailbox.put(_parse(message["text"]))
    except WebSocketDisconnect:
        pass
    finally:
        decoder.cancel()
