"""The ``latentatlas`` command line: ``serve``, ``train``, ``evaluate``, ``metrics``, ``fragments``,
``probe-decoder``, ``traverse``, ``export-onnx``, ``export-site``, ``compare``, ``ensemble``, ``zoo``, ``import`` and
``dataset``; one module per concern, each adding its commands to the one app."""

from latentatlas.cli import serve, train, scores, probe, exports, ensemble, zoo, imports, dataset  # noqa: I001 - the order of --help
from latentatlas.cli.common import app

__all__ = ["app", "dataset", "ensemble", "exports", "imports", "probe", "scores", "serve", "train", "zoo"]
