"""The FastAPI application factory: settings, lifespan model loading, routers, static app."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from latentatlas import __version__
from latentatlas.config import Settings
from latentatlas.devices import resolve_device, set_threads
from latentatlas.serve.deps import describe_errors
from latentatlas.serve.ensembles import EnsembleRegistry
from latentatlas.serve.jobs import JobManager
from latentatlas.serve.registry import ModelRegistry
from latentatlas.serve.routers import ensembles, health, live, metrics, models

log = logging.getLogger("latentatlas.serve")


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": describe_errors(error.errors())}, status_code=422)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; models are loaded once, at start-up, from ``settings.models_dir``."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        set_threads(settings.torch_threads)
        registry = ModelRegistry(settings.models_dir, resolve_device(settings.device))
        # ensembles first: their finished members join the registry as NAME.MEMBER models
        app.state.ensembles = EnsembleRegistry(settings.models_dir, registry)
        app.state.registry = registry
        yield

    # /docs is served with the Swagger UI vendored from npm (no CDN); ReDoc is off.
    app = FastAPI(
        title="Latent Atlas", version=__version__, lifespan=lifespan, description=__doc__, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.jobs = JobManager(settings.max_jobs)
    app.add_exception_handler(RequestValidationError, _validation_error)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(live.router)
    app.include_router(metrics.router)
    app.include_router(ensembles.router)
    vendor = settings.frontend_dir / "node_modules"
    if vendor.is_dir():
        app.mount("/vendor", StaticFiles(directory=vendor), name="vendor")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="Latent Atlas API",
            swagger_js_url="/vendor/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url="/vendor/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url="/vendor/swagger-ui-dist/favicon-32x32.png",
        )

    if settings.frontend_dir.is_dir():
        app.mount("/", StaticFiles(directory=settings.frontend_dir, html=True), name="frontend")
    else:
        log.warning("frontend folder %s not found: serving the API only", settings.frontend_dir)
    return app
