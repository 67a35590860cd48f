"""The headers every HTTP response carries, from the full API and from the start-up app alike."""

from __future__ import annotations


class SecurityHeaders:
    """Adds the headers every response should carry (pure ASGI, so WebSockets pass untouched):
    no MIME sniffing, no referrer, and no framing by other sites (clickjacking)."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"frame-ancestors 'none'"),
    )

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
