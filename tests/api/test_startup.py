"""The app ``latentatlas serve`` runs (:class:`latentatlas.serve.startup.StartingServer`): ready once
the models folder is indexed, the API built meanwhile; requests that come before it is built wait
for it; a build that fails, or a GPU asked for that is not there, is said plainly. Driven through
the ASGI protocol itself, as uvicorn drives it."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading

import pytest
import torch

from latentatlas.config import Settings
from latentatlas.serve.startup import StartingServer


class Lifespan:
    """The server's lifespan task, driven as uvicorn drives it."""

    def __init__(self, server: StartingServer) -> None:
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.sent: list[dict] = []
        self.task = asyncio.ensure_future(server({"type": "lifespan"}, self.inbox.get, self._send))

    async def _send(self, message: dict) -> None:
        self.sent.append(message)

    async def start(self) -> str:
        await self.inbox.put({"type": "lifespan.startup"})
        while not self.sent:
            await asyncio.sleep(0.01)
        return self.sent[0]["type"]

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self.task, 30)
        assert self.sent[-1]["type"] == "lifespan.shutdown.complete"


async def get(server: StartingServer, path: str) -> tuple[int, dict]:
    """GET ``path``: its status and JSON body."""
    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await server(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


@pytest.fixture
def good_models(models_dir, ids, tmp_path):
    """The session's two trained models without its broken folders (which keep /readyz at 503)."""
    for model_id in (ids.qlae, ids.vae):
        shutil.copytree(models_dir / model_id, tmp_path / model_id)
    return tmp_path


def test_ready_once_indexed_and_requests_wait_for_the_api(good_models, ids):
    async def scenario() -> None:
        server = StartingServer(Settings(models_dir=good_models, torch_threads=1))
        gate = threading.Event()
        build = server._create_app

        def slow_build():
            assert gate.wait(30), "the test never opened the gate"
            return build()

        server._create_app = slow_build  # the API's modules "still loading" until the gate opens
        lifespan = Lifespan(server)
        assert await lifespan.start() == "lifespan.startup.complete"

        status, body = await get(server, "/readyz")
        assert status == 200 and body["status"] == "ready" and body["models"] == 2 and body["loaded"] == 0
        assert await get(server, "/healthz") == (200, {"status": "ok"})
        listing = asyncio.ensure_future(get(server, "/api/models"))
        await asyncio.sleep(0.3)
        assert not listing.done() and server.app is None  # waits for the API, is not refused
        shutil.copytree(good_models / ids.qlae, good_models / "copied-meanwhile")  # before the watcher starts

        gate.set()
        status, models = await asyncio.wait_for(listing, 60)
        assert status == 200 and server.app is not None
        assert {model["id"] for model in models["models"]} == {ids.qlae, ids.vae, "copied-meanwhile"}
        status, body = await get(server, "/readyz")  # now the API's own health router
        assert status == 200 and body["models"] == 3
        await lifespan.stop()

    asyncio.run(scenario())


def test_a_failed_build_is_reported_not_hidden(settings):
    async def scenario() -> None:
        server = StartingServer(settings.model_copy(update={"torch_threads": 1}))

        def broken_build():
            raise RuntimeError("the API could not be imported")

        server._create_app = broken_build
        lifespan = Lifespan(server)
        assert await lifespan.start() == "lifespan.startup.complete"
        status, body = await get(server, "/api/models")  # waits for the build, which fails
        assert status == 503 and "the API could not be imported" in body["detail"]
        status, body = await get(server, "/readyz")
        assert status == 503 and body["status"] == "not ready" and "RuntimeError" in body["reason"]
        await lifespan.stop()

    asyncio.run(scenario())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of an absent GPU")
def test_an_absent_gpu_fails_the_start(models_dir):
    async def scenario() -> None:
        server = StartingServer(Settings(models_dir=models_dir, device="cuda", torch_threads=1))
        lifespan = Lifespan(server)
        assert await lifespan.start() == "lifespan.startup.failed"
        assert "CUDA is not available" in lifespan.sent[0]["message"]
        await asyncio.wait_for(lifespan.task, 5)

    asyncio.run(scenario())
