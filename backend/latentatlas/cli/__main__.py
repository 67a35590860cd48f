"""``python -m latentatlas.cli``: the command line."""

from latentatlas.cli import app

app()
