"""The server's log configuration: time, level and logger on every line, as text or JSON."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re

import pytest

from latentatlas.serve.logs import logging_config


@pytest.mark.parametrize("as_json", [False, True])
def test_every_line_has_time_level_and_logger(as_json, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logging.config.dictConfig(logging_config("info", as_json))
    try:
        logging.getLogger("latentatlas.serve").info("loaded model %s", "m")
        logging.getLogger("latentatlas.serve").debug("not at info")
    finally:
        plain = {"handlers": [], "propagate": True, "level": "NOTSET"}
        names = ("latentatlas", "uvicorn", "uvicorn.error", "uvicorn.access")
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "loggers": dict.fromkeys(names, plain),
                "root": {"handlers": [], "level": "WARNING"},
            }
        )
    (line,) = stream.getvalue().splitlines()
    if as_json:
        entry = json.loads(line)
        assert (
            entry["level"] == "INFO" and entry["logger"] == "latentatlas.serve" and entry["message"] == "loaded model m"
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    else:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO latentatlas.serve: loaded model m", line)
