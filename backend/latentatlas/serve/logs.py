"""The server's logging, configured once at start (``latentatlas serve`` hands it to uvicorn):
every line has its time (UTC, ISO 8601), level and logger, as text or as one JSON object per
line (``LATENTATLAS_LOG_JSON``); the app's loggers (``latentatlas.*``) and uvicorn's share it."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class UtcFormatter(logging.Formatter):
    """Text lines stamped ``2026-12-07T08:00:00.123Z``."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(UtcFormatter):
    """One JSON object per line: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def logging_config(level: str, as_json: bool) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server: one stderr handler for ``latentatlas`` and uvicorn."""
    formatter = {"()": JsonFormatter} if as_json else {"()": UtcFormatter, "format": TEXT_FORMAT}
    handler = {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
    logger = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": dict.fromkeys(("latentatlas", "uvicorn", "uvicorn.error", "uvicorn.access"), logger),
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
