"""WebSocket /api/models/{id}/live: decode latents while a slider is dragged.

The client may send latents faster than they decode; only the newest pending one is
decoded (latest wins) and stale ones are dropped, so the image follows the hand without
a growing queue.
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from latentatlas.errors import InputError, NotFoundError, OverloadedError
from latentatlas.imaging import to_data_url
from latentatlas.serve.deps import get_registry
from latentatlas.serve.errors import describe_errors
from latentatlas.serve.schemas import LiveRequest
from latentatlas.serve.services.core import ModelService

router = APIRouter(tags=["live"])
UNKNOWN_MODEL_CLOSE_CODE = 4404


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


@router.websocket("/api/models/{model_id}/live")
async def live(websocket: WebSocket, model_id: str) -> None:
    try:  # loading a model's weights (first use) blocks: a worker thread does it
        service = await run_in_threadpool(get_registry(websocket).get, model_id)
    except NotFoundError:  # its folder failed to load
        service = None
    await websocket.accept()
    if service is None:
        await websocket.close(code=UNKNOWN_MODEL_CLOSE_CODE, reason=f"unknown model {model_id[:60]!r}")  # a close reason holds 123 bytes at most
        return
    mailbox = LatestWins()
    decoder = asyncio.create_task(_decode_loop(websocket, service, mailbox))
    try:
        while True:
            message = await websocket.receive()
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
