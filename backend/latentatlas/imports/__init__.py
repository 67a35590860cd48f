"""Models from outside: ONNX graphs (:mod:`~latentatlas.imports.onnx_graphs`) and saved latents
(:mod:`~latentatlas.imports.latents`), each checked in full before anything is written, then
written as an ordinary model folder (:mod:`~latentatlas.imports.staging`); several saved-latents
runs with posteriors as one ensemble folder (:mod:`~latentatlas.imports.ensemble`)."""

from latentatlas.imports.ensemble import import_ensemble
from latentatlas.imports.latents import import_latents
from latentatlas.imports.onnx_graphs import MAX_GRAPH_BYTES, import_onnx
from latentatlas.imports.staging import ModelImportError

__all__ = ["MAX_GRAPH_BYTES", "ModelImportError", "import_ensemble", "import_latents", "import_onnx"]
