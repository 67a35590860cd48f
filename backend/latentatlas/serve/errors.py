"""The domain errors (:mod:`latentatlas.errors`) mapped to HTTP once, for every router: each
becomes ``{"detail": message}`` with its status (and Retry-After where waiting helps). Routers
and services raise; nothing catches per route."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from latentatlas.errors import (
    ImageInputError,
    InputError,
    JobLimitError,
    NotFoundError,
    OverloadedError,
    UnsupportedError,
)

STATUS: dict[type[Exception], int] = {
    InputError: 422,
    UnsupportedError: 409,
    NotFoundError: 404,
    JobLimitError: 429,
    OverloadedError: 503,
}
"""Each domain error's status; a subclass takes its nearest listed ancestor's (an
:class:`ImageInputError` carries its own)."""


MAX_DESCRIBED_ERRORS = 10
"""Problems described one by one; the rest are counted (3.4 MB of unknown keys is one short answer)."""


def describe_errors(errors: Iterable[Any]) -> str:
    """Pydantic errors as one readable sentence each (the first :data:`MAX_DESCRIBED_ERRORS`, then
    a count), without echoing the input (it may hold NaN or be huge; locations are cut to 100 characters)."""
    problems = list(errors)
    parts = []
    for problem in problems[:MAX_DESCRIBED_ERRORS]:
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where[:100]}: {str(problem.get('msg', 'invalid'))[:200]}")
    if len(problems) > MAX_DESCRIBED_ERRORS:
        parts.append(f"and {len(problems) - MAX_DESCRIBED_ERRORS} more problems")
    return "; ".join(parts)


def status_of(error: Exception) -> int:
    """The HTTP status of a domain error: its own (image inputs), else its class's nearest listed ancestor's."""
    if isinstance(error, ImageInputError):
        return error.status_code
    return next(STATUS[cls] for cls in type(error).__mro__ if cls in STATUS)


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    retry = getattr(error, "retry_after_seconds", None)
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return JSONResponse({"detail": str(error)}, status_code=status_of(error), headers=headers)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": describe_errors(error.errors())}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every domain error, and every request-validation error, with ``{"detail": ...}``."""
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for error_class in STATUS:
        app.add_exception_handler(error_class, _domain_error)
