"""`latentatlas export-site`'s folder: the page's modules (imports and workers, transitively),
the vendored runtime, each model's graphs, description and manifest with site-relative URLs,
and a model whose decoder cannot be exported left out with its reason."""

from __future__ import annotations

import json
from pathlib import Path

from latentatlas.export.onnx import OnnxExport
from latentatlas.serve import static_site
from latentatlas.serve.static_site import _modules, export_site

REPO = Path(__file__).resolve().parents[2]


def test_the_page_modules_are_found_through_imports_and_workers():
    modules = _modules(REPO / "frontend" / "src", "pages/static-site.js")
    assert {
        "pages/static-site.js",
        "decode/browser-decoder.js",
        "decode/onnx-worker.js",
        "panels/sliders.js",
        "panels/traversal.js",
        "panels/card.js",
        "lib/dom.js",
    } <= set(modules)
    assert "pages/explorer.js" not in modules and "decode/live.js" not in modules  # nothing of the server app's own
    assert all((REPO / "frontend" / "src" / name).is_file() for name in modules)


def test_site_folder_holds_models_with_relative_urls_and_skips_what_cannot_export(tmp_path, monkeypatch):
    real = static_site.export_onnx

    def refuse_the_flow(folder, cache_dir):
        if folder.name == "eoflow-dsprites":
            return OnnxExport(
                digest="x",
                opset=None,
                latent_dim=4096,
                image_shape=[1, 64, 64],
                unavailable={"decoder": "NotSupported: aten::thing"},
            )
        return real(folder, cache_dir)

    monkeypatch.setattr(static_site, "export_onnx", refuse_the_flow)
    out = tmp_path / "site"
    report = export_site(
        [REPO / "models" / "vae-dsprites", REPO / "models" / "eoflow-dsprites"],
        out,
        REPO / "frontend",
        tmp_path / "cache",
    )
    assert report.models == ["vae-dsprites"]
    assert report.skipped == {"eoflow-dsprites": "NotSupported: aten::thing"}
    site = json.loads((out / "site.json").read_text())
    (model,) = site["models"]
    assert model["id"] == "vae-dsprites" and model["curves"] and model["metrics"]
    assert model["onnx"]["parts"]["decoder"]["url"] == "models/vae-dsprites/decoder.onnx"
    assert (out / model["onnx"]["parts"]["encoder"]["url"]).stat().st_size == model["onnx"]["parts"]["encoder"]["bytes"]
    assert len(model["samples"]) == 8 and model["samples"][0]["image"].startswith("data:image/png")
    for path in [
        "index.html",
        "styles.css",
        "src/pages/static-site.js",
        "src/decode/onnx-worker.js",
        "vendor/onnxruntime-web/dist/ort.wasm.min.mjs",
        "vendor/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
        "vendor/plotly.js-strict-dist-min/plotly-strict.min.js",
    ]:
        assert (out / path).is_file(), path
    assert "static-site.js" in (out / "index.html").read_text()
