"""The errors a request can meet, named by what went wrong and free of any web framework: the
services, the CLI and the pure modules raise them; the server maps each class to its HTTP status
once (:mod:`latentatlas.serve.errors`), the CLI prints the message."""

from __future__ import annotations


class InputError(ValueError):
    """A request the model cannot serve as given (bad values, out-of-range indices): 422."""


class UnsupportedError(InputError):
    """An operation the model's declared capabilities, or an object's state, do not allow, e.g.
    truncating the latent of a model without ordered latents, or hotspots before an analysis: 409."""


class NotFoundError(LookupError):
    """An unknown model, ensemble or job: 404."""


class ImageInputError(InputError):
    """An upload refused, with the HTTP status that says why (413 too large, 415 not an image,
    422 empty or corrupt); the status is part of the verdict, decided where the bytes are read."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class OverloadedError(RuntimeError):
    """Too many requests are waiting for inference; the message says which bound was hit: 503."""

    retry_after_seconds = 1


class JobLimitError(RuntimeError):
    """Too many background jobs are active; the message says how many and what to do: 429."""

    retry_after_seconds = 30
