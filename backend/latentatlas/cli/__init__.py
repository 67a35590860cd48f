"""The ``latentatlas`` command line: ``serve``, ``train``, ``evaluate``, ``metrics``, ``fragments``,
``traverse``, ``export-onnx``, ``export-site``, ``compare``, ``ensemble``, ``zoo`` and ``import``; one
module per concern, each adding its commands to the one app."""

from latentatlas.cli import serve, train, scores, exports, ensemble, zoo, imports  # noqa: I001 - the order of --help
from latentatlas.cli.common import app

__all__ = ["app", "ensemble", "exports", "imports", "scores", "serve", "train", "zoo"]
