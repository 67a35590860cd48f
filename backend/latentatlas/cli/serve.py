"""``latentatlas serve``: the web app and API over a models folder."""

from __future__ import annotations

import logging.config
from pathlib import Path
from typing import Annotated, Any

import typer

from latentatlas.cli.common import app


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: settings' host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings' port).")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="Folder of model folders to serve.")] = None,
) -> None:
    """Serve the models folder and the web app."""
    import uvicorn

    from latentatlas.config import Settings
    from latentatlas.serve.connections import guarded_protocol
    from latentatlas.serve.logs import logging_config
    from latentatlas.serve.startup import StartingServer

    # only the options given: the others stay the settings' own (environment, .env, defaults)
    given = {"host": host, "port": port, "models_dir": models_dir}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    settings = Settings(**overrides)
    log_config = logging_config(settings.log_level, settings.log_json)
    logging.config.dictConfig(log_config)  # before the app is built: its start-up lines are formatted too
    uvicorn.run(
        StartingServer(settings),  # ready once indexed; the API's modules load meanwhile
        host=settings.host,
        port=settings.port,
        ws_max_size=1 << 20,
        log_config=log_config,
        log_level=settings.log_level,
        http=guarded_protocol(settings.header_timeout_seconds, settings.max_connections),
        timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]  # a float works: it is a timer
    )
