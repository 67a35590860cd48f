"""Fixtures for the browser tests: the real server on a free port, and the system Chromium.

The server is started as a subprocess exactly as a user would (``python -m latentatlas.cli
serve``), serving the repository's shipped ``models/`` folder; Chromium is the system one at
/usr/bin/chromium (never downloaded), driven by Playwright's sync API.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
READY_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1 only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def json(self, path: str) -> dict:
        status, body = _get(self.url + path, timeout=10)
        assert status == 200, f"GET {path} -> {status}: {body[:300]!r}"
        return json.loads(body)


def start_server(models_dir: Path, log_path: Path) -> Server:
    """Start ``latentatlas serve`` on a free port and wait for /readyz == 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "latentatlas.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--models-dir", str(models_dir)],
        cwd=REPO_ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log_file.close()
    server = Server(url, process, log_path)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before it was ready:\n{server.log()}")
        try:
            status, _ = _get(url + "/readyz", timeout=1.0)
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"the server was not ready within {READY_TIMEOUT_S} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need the system Chromium at {CHROMIUM} (apt-get install chromium); it is missing")
    return CHROMIUM


@pytest.fixture(scope="session")
def server(chromium_path, tmp_path_factory) -> Server:
    server = start_server(MODELS_DIR, tmp_path_factory.mktemp("server") / "server.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def models(server) -> dict[str, dict]:
    """The served models' info, by id."""
    return {m["id"]: m for m in server.json("/api/models")["models"]}


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageRecorder:
    """A page plus everything it logged and asked for."""

    page: object
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)

    def non_local(self) -> list[str]:
        """Requested URLs that would leave this machine (data: and blob: never do)."""
        bad = []
        for url in self.requests + self.websockets:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname not in LOCAL_HOSTS:
                bad.append(url)
        return bad


@pytest.fixture
def app(browser, server):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    recorder = PageRecorder(page=page, base_url=server.url)
    page.on("console", lambda msg: recorder.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
    page.on("request", lambda request: recorder.requests.append(request.url))
    page.on("websocket", lambda ws: recorder.websockets.append(ws.url))
    yield recorder
    context.close()
    # Whatever a test did, the page must never throw, nor talk to anything but this machine.
    assert not recorder.page_errors, f"uncaught errors in the page: {recorder.page_errors}"
    assert not recorder.non_local(), f"requests that left 127.0.0.1: {recorder.non_local()}"
