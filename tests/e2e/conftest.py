"""Fixtures for the browser tests: the real server on a free port, and the system Chromium.

The server is started as a subprocess exactly as a user would (``python -m latentatlas.cli
serve``), serving the repository's shipped ``models/`` folder; Chromium is the system one at
/usr/bin/chromium (never downloaded), driven by Playwright's sync API.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devtools import CHROMIUM, CHROMIUM_ARGS, LocalServer

REPO_ROOT = Path(__file__).resolve().parents[2]
# LATENTATLAS_E2E_MODELS_DIR serves another models folder (development: a small ensemble).
MODELS_DIR = Path(os.environ.get("LATENTATLAS_E2E_MODELS_DIR") or REPO_ROOT / "models")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture
def screenshot_path(tmp_path) -> Callable[[str], Path]:
    """Where a test saves its screenshot NAME: docs/NAME (the README's pictures) under `make
    screenshot` (LATENTATLAS_UPDATE_SCREENSHOT=1), else the test's tmp folder."""
    update = os.environ.get("LATENTATLAS_UPDATE_SCREENSHOT") == "1"
    return lambda name: (REPO_ROOT / "docs" / name) if update else tmp_path / name


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need the system Chromium at {CHROMIUM} (apt-get install chromium); it is missing")
    return CHROMIUM


@pytest.fixture(scope="session")
def server(chromium_path, tmp_path_factory) -> LocalServer:
    with LocalServer(MODELS_DIR, tmp_path_factory.mktemp("server") / "server.log") as server:
        yield server


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
