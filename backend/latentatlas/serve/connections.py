"""Connection hygiene below the app, as a uvicorn HTTP protocol class (uvicorn's own has no
header-read timeout, and its ``limit_concurrency`` counts idle connections, so a few hundred
idle sockets make every request, health checks included, a 503).

* **Header deadline**: a connection must deliver a request's complete headers within
  ``header_timeout`` seconds of opening (or of its previous response); an idle socket, or one
  trickling partial headers, is closed then. uvicorn's keep-alive timeout still closes idle
  keep-alive connections sooner. (Bodies have their own deadline: :mod:`latentatlas.serve.bodies`.)
* **Connection budget**: at most ``max_connections`` connections (HTTP and WebSocket) are held.
  A new one beyond the budget closes the connection that has idled longest without a request in
  flight, else the one still sending a request body at the lowest rate (a trickling client), so
  idle, half-open or crawling sockets can never lock out a health probe; only when every held
  connection is busy being answered is the newcomer answered 503 at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as BaseProtocol
except ImportError:  # pragma: no cover - httptools is optional for uvicorn
    BaseProtocol = H11Protocol  # type: ignore[assignment, misc]

log = logging.getLogger("latentatlas.serve.connections")

IDLE_GRACE_SECONDS = 1.0
"""A connection idle for less than this (a client about to send its request) is evicted only
when no connection is crawling through a body."""

MAX_UPGRADE_TARGET = 4096
"""Longest URL a WebSocket upgrade may have (model ids are short; the websockets library's line limit is 8 KB)."""
TOO_LONG_RESPONSE = (
    b"HTTP/1.1 414 URI Too Long\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: 26\r\n\r\nthe URL is too long (4 KB)"
)
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: 44\r\n\r\nthe server holds too many busy connections\r\n"
)


class GuardedProtocol(BaseProtocol):
    """uvicorn's HTTP protocol with a header deadline and a connection budget (class attributes,
    set by :func:`guarded_protocol`)."""

    header_timeout: float = 10.0
    max_connections: int = 256

    def connection_made(self, transport: Any) -> None:
        self.idle_since = self.connected_at = time.monotonic()
        self.received = 0
        self.header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.max_connections and not self._evict_one():
            log.warning("refused a connection: all %d held connections are busy", self.max_connections)
            transport.write(BUSY_RESPONSE)
            transport.close()
            return
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.idle_since = time.monotonic()
        self._arm_header_timer()

    def handle_websocket_upgrade(self, *args: Any) -> None:
        self._disarm_header_timer()  # the WebSocket session has its own idle limit
        if len(getattr(self, "url", b"")) > MAX_UPGRADE_TARGET:  # the WebSocket library would answer 414 and hang
            log.info("refused a WebSocket upgrade from %s: its URL is %d bytes", _peer(self.client), len(self.url))
            self.transport.write(TOO_LONG_RESPONSE)
            self.transport.close()
            return
        super().handle_websocket_upgrade(*args)

    @property
    def in_request(self) -> bool:
        """Whether a request's headers arrived and its response is not complete yet."""
        return self.cycle is not None and not self.cycle.response_complete

    @property
    def sending_body(self) -> bool:
        """Whether the client is still sending a request body (nothing answered yet)."""
        return self.in_request and self.cycle.more_body and not self.cycle.response_started

    def _rate(self) -> float:
        return self.received / max(time.monotonic() - self.connected_at, 1e-3)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self.header_timer = self.loop.call_later(self.header_timeout, self._header_deadline)

    def _disarm_header_timer(self) -> None:
        timer = getattr(self, "header_timer", None)
        if timer is not None:
            timer.cancel()
            self.header_timer = None

    def _header_deadline(self) -> None:
        self.header_timer = None
        if self.in_request or self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        log.info(
            "closed a connection from %s: no complete request headers within %s s",
            _peer(self.client),
            self.header_timeout,
        )
        self.transport.close()

    def _evict_one(self) -> bool:
        """Close the held HTTP connection idle the longest (no request in flight), else the one
        sending its body slowest; False if every one is being answered."""
        held = [
            other
            for other in self.connections
            if isinstance(other, GuardedProtocol)
            and other is not self
            and not other.transport.is_closing()
            and other.transport.get_protocol() is other
        ]
        now = time.monotonic()
        idle = [other for other in held if not other.in_request]
        sending = [other for other in held if other.sending_body]
        if idle and (not sending or now - min(other.idle_since for other in idle) >= IDLE_GRACE_SECONDS):
            victim, why = min(idle, key=lambda other: other.idle_since), "an idle connection"
        elif sending:
            victim, why = min(sending, key=GuardedProtocol._rate), "the slowest body"
        else:
            return False
        log.info("connection budget (%d) reached: closed %s from %s", self.max_connections, why, _peer(victim.client))
        victim.transport.close()
        self.connections.discard(victim)
        return True


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown peer"


def guarded_protocol(header_timeout: float, max_connections: int) -> type[GuardedProtocol]:
    """The protocol class to give uvicorn (``http=``) with these limits."""
    return type(
        "GuardedProtocol", (GuardedProtocol,), {"header_timeout": header_timeout, "max_connections": max_connections}
    )
