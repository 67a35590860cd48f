"""The FastAPI application factory: settings, lifespan model loading, routers, static app."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from latentatlas import __version__
from latentatlas.config import Settings
from latentatlas.devices import resolve_device, set_threads
from latentatlas.export.onnx import OnnxCache
from latentatlas.serve.admission import RETRY_AFTER_SECONDS
from latentatlas.serve.bodies import BoundedBodies
from latentatlas.serve.errors import install_error_handlers
from latentatlas.serve.image_input import FORM_OVERHEAD_BYTES
from latentatlas.serve.jobs import JobManager
from latentatlas.serve.pages import SERVED_PAGES, render_page
from latentatlas.serve.routers import (
    batch,
    catalogue,
    config,
    ensembles,
    exports,
    health,
    live,
    metrics,
    models,
    onnx,
    ordered,
    paths,
    population,
    probe,
    retrieval,
    zoo,
)
from latentatlas.serve.security_headers import SecurityHeaders
from latentatlas.serve.startup import ModelIndex, index_models
from latentatlas.serve.watcher import watching
from latentatlas.store.leftovers import clean_leftovers

log = logging.getLogger("latentatlas.serve")


ROUTERS = (
    health,
    config,
    catalogue,
    models,
    batch,
    ordered,
    population,
    paths,
    retrieval,
    probe,
    exports,
    live,
    onnx,
    metrics,
    ensembles,
    zoo,
)
"""Every router module (each has a ``router``); one entry per concern."""


def create_app(settings: Settings | None = None, index: ModelIndex | None = None) -> FastAPI:
    """Build the app; start-up indexes the models of ``settings.models_dir`` (unless ``index``, the
    folder already indexed by :mod:`~latentatlas.serve.startup`, is given) and watches it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        set_threads(settings.torch_threads)
        resolve_device(settings.device)  # a device that is not there fails the start, not the first model
        # Blocking work runs in anyio's worker threads: size that pool from settings (default 40).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        # The folders' config and card; weights load on first use, within the budget.
        registry, ensembles = index or index_models(settings)
        app.state.ensembles, app.state.registry = ensembles, registry
        registry.watching = True

        def rescan() -> bool:
            return registry.rescan() | ensembles.rescan()

        # Folders added or removed while serving appear or go without a restart.
        async with watching(settings.models_dir, rescan, lambda: bool(registry.waiting_for)):
            if index is not None:  # indexed before the API was built: what changed meanwhile
                await anyio.to_thread.run_sync(rescan)
            yield

    # /docs is served with the Swagger UI vendored from npm (no CDN); ReDoc is off.
    app = FastAPI(
        title="Latent Atlas", version=__version__, lifespan=lifespan, description=__doc__, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    if index is None:
        clean_leftovers(settings.models_dir, settings.state_dir)
    private_paths = {settings.models_dir: "$LATENTATLAS_MODELS_DIR", settings.state_dir: "$LATENTATLAS_STATE_DIR"}
    app.state.jobs = JobManager(settings.max_jobs, private_paths=private_paths)
    app.state.onnx = OnnxCache(settings.onnx_cache_dir)
    app.state.live_sessions = live.SessionBudget(settings.max_live_sessions, settings.max_live_sessions_per_client)
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    for module in ROUTERS:
        app.include_router(module.router)
    # Only what the pages load: the vendored npm packages' files, not node_modules or package.json.
    for package, subfolder in VENDORED_PACKAGES.items():
        folder = settings.frontend_dir / "node_modules" / package / subfolder
        if folder.is_dir():
            app.mount(
                f"/vendor/{package}/{subfolder}".rstrip("/"),
                GZipMiddleware(AssetFiles(directory=folder), minimum_size=1024),
                name=f"vendor-{package}",
            )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        assert app.openapi_url is not None  # FastAPI's default /openapi.json, never turned off here
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="Latent Atlas API",
            swagger_js_url="/vendor/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url="/vendor/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url="/vendor/swagger-ui-dist/favicon-32x32.png",
        )
        # the page's language, for screen readers (Swagger UI's template has none), and a skip link as the first Tab
        html = bytes(page.body).decode().replace("<html>", '<html lang="en">', 1)
        return HTMLResponse(html.replace("<body>", "<body>" + DOCS_SKIP_LINK, 1))

    if settings.frontend_dir.is_dir():
        _serve_frontend(app, settings.frontend_dir)
    else:
        log.warning("frontend folder %s not found: serving the API only", settings.frontend_dir)
    app.add_middleware(InferenceDoor, limit=settings.max_inflight_total)
    app.add_middleware(
        BoundedBodies,
        json_limit=settings.max_json_bytes,
        upload_limit=settings.max_upload_bytes + FORM_OVERHEAD_BYTES,
        timeout=settings.body_timeout_seconds,
        min_rate=settings.body_min_rate,
        max_seconds=settings.body_max_seconds,
    )  # outside the door: bodies are read whole before they take an inference slot
    app.add_middleware(SameOriginWrites, allowed=settings.cors_origins)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts)
    app.add_middleware(SecurityHeaders)
    return app


DOCS_SKIP_LINK = (
    "<style>.skip-link{position:absolute;left:8px;top:-48px;z-index:100;padding:8px 12px;background:#fff;color:#1b1b1b;"
    "border:1px solid #555;border-radius:6px}.skip-link:focus{top:8px}</style>"
    '<a class="skip-link" href="#swagger-ui">Skip to the API operations</a>'
)
"""The API docs page's first Tab: past Swagger UI's header to its operations."""

VENDORED_PACKAGES = {"plotly.js-strict-dist-min": "", "swagger-ui-dist": "", "onnxruntime-web": "dist"}
"""npm package -> the folder of it served at /vendor/<package>/<folder> (ONNX Runtime Web: its
browser builds and WASM binaries only)."""


class AssetFiles(StaticFiles):
    """A vendored package's scripts, styles, images and WASM only (not its package.json, README or logs)."""

    SUFFIXES = frozenset({".js", ".mjs", ".css", ".map", ".png", ".wasm"})

    async def get_response(self, path: str, scope) -> Response:
        if Path(path).suffix not in self.SUFFIXES:
            raise HTTPException(404)
        return await super().get_response(path, scope)


def _serve_frontend(app: FastAPI, root: Path) -> None:
    """The pages, their stylesheet and their ES modules (``src/``); nothing else of the folder.
    Static scripts are gzipped for clients that accept it (Plotly: 4.8 MB -> ~1.5 MB); API
    responses are not (PNG decodes are small and latency-bound)."""
    app.mount("/src", GZipMiddleware(StaticFiles(directory=root / "src"), minimum_size=1024), name="frontend-src")
    app.add_api_route(
        "/styles.css", lambda: FileResponse(root / "styles.css"), methods=["GET", "HEAD"], include_in_schema=False
    )
    for name in SERVED_PAGES:
        app.add_api_route(
            f"/{name}.html",
            lambda name=name: HTMLResponse(render_page(root, name)),
            methods=["GET", "HEAD"],
            include_in_schema=False,
        )
    app.add_api_route(
        "/", lambda: HTMLResponse(render_page(root, "index")), methods=["GET", "HEAD"], include_in_schema=False
    )


class SameOriginWrites:
    """Refuses cross-site writes: a request that changes state (POST, PUT, PATCH, DELETE) or opens
    a WebSocket, sent by a browser from another origin, gets 403, unless that origin is in
    ``LATENTATLAS_CORS_ORIGINS``. The Origin header is compared with the request's own Host (one
    Host: a duplicated one vouches for nothing); requests without an Origin (curl, scripts) are not
    browsers' cross-site requests and pass. Browsers' cross-site reads of ``/api/`` are refused too."""

    WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, app, allowed: list[str]) -> None:
        self.app, self.allowed = app, {origin.rstrip("/") for origin in allowed}

    def _refused(self, scope) -> str | None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin is None or origin.rstrip("/") in self.allowed:
            return None
        if sum(name.lower() == b"host" for name, _ in scope.get("headers", [])) != 1:
            return origin  # a duplicated Host cannot vouch for the origin
        host = headers.get("host", "")
        if origin in ("null", "") or origin.split("://", 1)[-1].rstrip("/") != host:
            return origin
        return None

    def _cross_site_read(self, scope) -> str | None:
        """A browser's read of the API made from another site (``Sec-Fetch-Site: cross-site``, as an
        ``<img>`` or a link sends it, with no Origin): refused too, since reads compute (a new
        population seed costs ~90 MB); returns what to name it by."""
        headers = dict(scope.get("headers", []))
        if headers.get(b"sec-fetch-site") != b"cross-site":
            return None
        origin = headers.get(b"origin", b"").decode("latin-1")
        return None if origin.rstrip("/") in self.allowed and origin else (origin or "another site")

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http" and scope["method"] not in self.WRITES and scope["path"].startswith("/api/"):
            origin = self._cross_site_read(scope)
            if origin is not None:
                log.info("refused a cross-site %s from %s to %s", scope["method"], origin[:100], scope["path"][:200])
                response = JSONResponse(
                    {
                        "detail": "cross-site reads of the API are refused: add the origin to "
                        "LATENTATLAS_CORS_ORIGINS to allow it"
                    },
                    status_code=403,
                )
                await response(scope, receive, send)
                return
        if kind == "websocket" or (kind == "http" and scope["method"] in self.WRITES):
            origin = self._refused(scope)
            if origin is not None:
                log.info(
                    "refused a cross-origin %s from %s to %s",
                    "WebSocket" if kind == "websocket" else scope["method"],
                    origin[:100],
                    scope["path"],
                )
                if kind == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # before accept: an HTTP 403
                    return
                response = JSONResponse(
                    {
                        "detail": f"cross-origin request from {origin[:100]!r} refused: "
                        "add the origin to LATENTATLAS_CORS_ORIGINS to allow it"
                    },
                    status_code=403,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class InferenceDoor:
    """Bounds the inference requests inside the app at once (POSTs under /api/models/ but the
    metrics jobs, which have their own limit), before they wait for a worker thread: beyond
    ``limit``, 503 with Retry-After at once, so queues (and response times) stay bounded however
    many clients come. Per model, :class:`~latentatlas.serve.admission.Admission` bounds them
    too, WebSocket decodes included (each live connection has one decode in flight at most)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit, self.inside = app, limit, 0

    async def __call__(self, scope, receive, send) -> None:
        inference = scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/api/models/")
        if not inference or scope["path"].endswith("/metrics"):
            await self.app(scope, receive, send)
            return
        if self.inside >= self.limit:
            response = JSONResponse(
                {
                    "detail": f"the server is busy ({self.inside} inference requests in flight; the limit is {self.limit}): retry shortly"
                },
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await response(scope, receive, send)
            return
        self.inside += 1  # the event loop is single-threaded: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.inside -= 1
