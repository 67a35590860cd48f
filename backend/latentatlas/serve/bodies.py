"""Every request body read whole, within limits, before the app sees the request (so a slow
body never holds an inference slot): a pure ASGI middleware.

* **Size**: multipart uploads may hold ``upload_limit`` bytes, every other body (JSON)
  ``json_limit``. A declared ``Content-Length`` over the limit is refused before reading; a body
  that grows past it while read is refused then (413). The over-limit body is read and discarded
  first (within the body deadline, until the client pauses), so clients that send everything before reading the answer
  (Python's urllib) see the 413 instead of a reset connection.
* **Time**: a body must arrive within ``timeout`` seconds, extended by one second per
  ``min_rate`` bytes received (Apache mod_reqtimeout's ``body=timeout,MinRate=rate``), and never
  in more than ``max_seconds``: a stalled or trickling client is answered 408 and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

log = logging.getLogger("latentatlas.serve.bodies")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


class ClientGone(Exception):
    pass


class BoundedBodies:
    """Reads each HTTP request's body (when it has one) within the size and time limits, then
    hands the app the whole body as one message."""

    def __init__(
        self, app: Any, json_limit: int, upload_limit: int, timeout: float, min_rate: float, max_seconds: float
    ) -> None:
        self.app, self.json_limit, self.upload_limit = app, json_limit, upload_limit
        self.timeout, self.min_rate, self.max_seconds = timeout, min_rate, max_seconds

    async def __call__(self, scope: Message, receive: Receive, send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        declared = headers.get(b"content-length", b"")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if not chunked and declared in (b"", b"0"):
            await self.app(scope, receive, send)
            return
        upload = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = self.upload_limit if upload else self.json_limit
        what = "upload" if upload else "JSON body"
        deadline = _Deadline(self.timeout, self.min_rate, self.max_seconds)
        path = scope.get("path", "")
        try:
            if declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(f"request body is {int(declared)} bytes; the {what} limit is {limit} bytes")
            body = await _read(receive, limit, what, deadline)
        except BodyTooLarge as error:
            if headers.get(b"expect", b"").lower() != b"100-continue":  # else the client waits: nothing to drain
                await _drain(receive, deadline)
            log.info("refused an oversize body to %s: %s", path, error)
            await _refuse(413, str(error), scope, receive, send)
            return
        except BodyTooSlow as error:
            log.info("dropped a slow body to %s (408): %s", path, error)
            await _refuse(408, str(error), scope, receive, send)
            return
        except ClientGone as error:
            log.info("client disconnected during a body to %s: %s", path, error)
            return
        await self.app(scope, _replay(body, receive), send)


class _Deadline:
    """mod_reqtimeout's rule: ``timeout`` s, plus 1 s per ``min_rate`` bytes, at most ``max_seconds``."""

    def __init__(self, timeout: float, min_rate: float, max_seconds: float) -> None:
        self.started = time.monotonic()
        self.timeout, self.min_rate, self.max_seconds = timeout, min_rate, max_seconds

    def remaining(self, received: int) -> float:
        allowed = min(self.max_seconds, self.timeout + received / self.min_rate)
        return allowed - (time.monotonic() - self.started)

    def explain(self, received: int) -> str:
        return (
            f"the body stalled or came too slowly: {received} bytes in {time.monotonic() - self.started:.1f} s "
            f"(a body gets {self.timeout:g} s plus 1 s per {self.min_rate:g} bytes, {self.max_seconds:g} s at most)"
        )


DRAIN_STALL_SECONDS = 1.0
"""While an over-limit body is discarded, a pause this long ends the discarding: the 413 is sent."""


async def _next(receive: Receive, deadline: _Deadline, received: int, stall: float | None = None) -> Message:
    remaining = deadline.remaining(received)
    if remaining <= 0:
        raise BodyTooSlow(deadline.explain(received))
    try:
        async with asyncio.timeout(remaining if stall is None else min(remaining, stall)):
            return await receive()
    except TimeoutError:
        raise BodyTooSlow(deadline.explain(received)) from None


async def _read(receive: Receive, limit: int, what: str, deadline: _Deadline) -> bytes:
    chunks, size = [], 0
    while True:
        message = await _next(receive, deadline, size)
        if message["type"] == "http.disconnect":
            raise ClientGone(f"after {size} bytes")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds the {what} limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _drain(receive: Receive, deadline: _Deadline) -> None:
    """Read and discard the rest of a body, until its end, a disconnect, a pause of
    :data:`DRAIN_STALL_SECONDS` or the body deadline."""
    received = 0
    try:
        while True:
            message = await _next(receive, deadline, received, DRAIN_STALL_SECONDS)
            received += len(message.get("body", b""))
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return
    except BodyTooSlow:
        return


async def _refuse(
    status: int, detail: str, scope: Message, receive: Receive, send: Callable[[Message], Awaitable[None]]
) -> None:
    response = JSONResponse({"detail": detail}, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The whole body as the first message; then the client's own messages (disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
