"""Domain errors map to one HTTP status each, in one place; a subclass takes its ancestor's."""

from __future__ import annotations

import pytest

from latentatlas.errors import (
    ImageInputError,
    InputError,
    JobLimitError,
    NotFoundError,
    OverloadedError,
    UnsupportedError,
)
from latentatlas.serve.ensembles import NotAnalysedError
from latentatlas.serve.errors import STATUS, status_of


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InputError("bad"), 422),
        (UnsupportedError("no such capability"), 409),
        (NotAnalysedError("not analysed yet"), 409),  # an UnsupportedError: its ancestor's status
        (NotFoundError("unknown"), 404),
        (JobLimitError("too many jobs"), 429),
        (OverloadedError("busy"), 503),
        (ImageInputError(413, "too large"), 413),  # an image input error carries its own
        (ImageInputError(415, "not an image"), 415),
    ],
)
def test_each_domain_error_has_its_status(error, status):
    assert status_of(error) == status


def test_the_errors_that_ask_to_wait_say_how_long():
    assert JobLimitError.retry_after_seconds > 0 and OverloadedError.retry_after_seconds > 0
    assert not hasattr(InputError("x"), "retry_after_seconds")
    assert all(issubclass(error, Exception) for error in STATUS)
