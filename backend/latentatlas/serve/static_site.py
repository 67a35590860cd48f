"""A static, server-free explorer: ``latentatlas export-site MODEL... --out DIR``.

The folder holds the static page (``index.html``), its ES modules, ONNX Runtime Web's browser
build and WASM binary, Plotly, and per model: its ONNX decoder and encoder, its description
(the same JSON as ``GET /api/models/{id}``, card and curves included), its manifest and a few
dataset samples. Any static file server can host it (``python -m http.server``): uploads are
encoded, slid and traversed in the browser and never leave it.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import torch

from latentatlas import __version__
from latentatlas.data.base import FactorDataset
from latentatlas.evaluation.disentanglement import metric_catalogue_json as catalogue_json
from latentatlas.export.onnx import cache_folder, export_onnx
from latentatlas.serve.browser import onnx_manifest
from latentatlas.serve.pages import STATIC_PAGE, render_page
from latentatlas.serve.services.core import ModelService
from latentatlas.store.folders import load_model_folder

ENTRY_MODULE = "pages/static-site.js"
VENDOR_FILES = {
    "onnxruntime-web": ["dist/ort.wasm.min.mjs", "dist/ort-wasm-simd-threaded.mjs", "dist/ort-wasm-simd-threaded.wasm"],
    "plotly.js-strict-dist-min": ["plotly-strict.min.js"],
}
SAMPLES_PER_MODEL = 8
_IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+["'](\.\.?/[\w./-]+\.js)["']""", re.MULTILINE)
_WORKER = re.compile(r"""new URL\(["'](\.\.?/[\w./-]+\.js)["'], import\.meta\.url\)""")


@dataclass
class SiteReport:
    """What went into the site, and what could not (model id -> reason)."""

    out: Path
    models: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    bytes: int = 0


def _modules(src: Path, entry: str) -> list[str]:
    """``entry`` and every module it imports (or starts as a worker), transitively, as paths
    relative to ``src`` (``pages/static-site.js``, ``lib/dom.js``, ...)."""
    seen, queue = [], [entry]
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.append(name)
        text = (src / name).read_text()
        for ref in _IMPORT.findall(text) + _WORKER.findall(text):
            path = posixpath.normpath(posixpath.join(posixpath.dirname(name), ref))
            if path.startswith("../"):
                raise ValueError(f"{name} imports {ref}, outside {src}")
            queue.append(path)
    return sorted(seen)


def _samples(service: ModelService, n: int, seed: int) -> list[dict]:
    """A few seeded dataset samples (image as a PNG data URL, factors), when the dataset has factors."""
    if not isinstance(service.dataset, FactorDataset):
        return []
    return [sample.model_dump() for sample in service.samples(n, seed)]


def _graph_url(model_id: str, part: str, sha256: str) -> str:
    """Where the static site keeps a model's graph (beside its page; the digest is in the manifest)."""
    return f"models/{model_id}/{part}.onnx"


def export_site(model_folders: list[Path], out: Path, frontend_dir: Path, cache_dir: Path, seed: int = 0) -> SiteReport:
    """Write the static explorer for ``model_folders`` into ``out`` (created; its previous
    content replaced). A model whose decoder cannot be exported is left out, with the reason."""
    report = SiteReport(out=out)
    if out.exists():
        shutil.rmtree(out)
    (out / "models").mkdir(parents=True)
    entries = []
    for folder in model_folders:
        model_id = folder.name
        export = export_onnx(folder, cache_dir)
        if "decoder" not in export.parts:
            report.skipped[model_id] = export.unavailable.get("decoder", "the decoder was not exported")
            continue
        service = ModelService(load_model_folder(folder, torch.device("cpu")), torch.device("cpu"), model_id)
        target = out / "models" / model_id
        target.mkdir()
        for part in export.parts.values():
            shutil.copyfile(cache_folder(cache_dir, export.digest) / part.file, target / part.file)
        manifest = onnx_manifest(service, export, partial(_graph_url, model_id))
        detail = service.detail().model_dump(mode="json")
        entries.append(
            {**detail, "onnx": manifest.model_dump(mode="json"), "samples": _samples(service, SAMPLES_PER_MODEL, seed)}
        )
        report.models.append(model_id)
    site = {"version": __version__, "created": datetime.now(UTC).isoformat(timespec="seconds"), "models": entries}
    (out / "site.json").write_text(json.dumps(site, allow_nan=False))
    (out / "api").mkdir()  # the page reads the metric catalogue where the app serves it: api/metric-catalogue
    (out / "api" / "metric-catalogue").write_text(json.dumps(catalogue_json()))
    (out / "index.html").write_text(render_page(frontend_dir, STATIC_PAGE, vendor="./vendor"))
    shutil.copyfile(frontend_dir / "styles.css", out / "styles.css")
    for name in _modules(frontend_dir / "src", ENTRY_MODULE):
        (out / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(frontend_dir / "src" / name, out / "src" / name)
    for package, files in VENDOR_FILES.items():
        for name in files:
            target = out / "vendor" / package / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(frontend_dir / "node_modules" / package / name, target)
    report.bytes = int(np.sum([p.stat().st_size for p in out.rglob("*") if p.is_file()]))
    return report
