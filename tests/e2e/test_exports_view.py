"""Browser test of the exports: the traversal panel's PNG and GIF buttons, the metrics panel's CSV
and JSON buttons and the latent's CSV and JSON buttons each download a file that decodes, with
the size, frames, rows and columns of what the page shows."""

from __future__ import annotations

import csv
import io
import json

import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

MODEL = "qlae-shapes3d"  # 12 latents, codebooks of 10, 64-pixel tiles, metrics in its card


def _download(page, selector: str):
    with page.expect_download() as info:
        page.click(selector)
    return info.value


def test_export_buttons_download_the_view(app, models):
    model = models[MODEL]
    size, dims, codes = model["image_size"], model["latent_dim"], len(model["codebooks"][0])
    factors = model["factor_names"]
    assert model["metrics"], f"the shipped {MODEL} card has metrics"
    page = app.page
    page.goto(f"{app.base_url}/#model={MODEL}")
    page.wait_for_function(
        f"""() => {{ const h = window.__latentAtlas; const img = document.querySelector('#traversal-img');
                    return h && h.modelId === '{MODEL}' && h.frames > 0 && h.idle && img.naturalHeight === {dims * size}; }}"""
    )

    # PNG: the grid on screen (every dim x every code, 64-pixel tiles) plus a label column and a header.
    png = _download(page, "#export-traversal-png")
    assert png.suggested_filename == f"{MODEL}-traversal.png"
    with Image.open(png.path()) as sheet:
        assert sheet.format == "PNG"
        label_width, header = sheet.width - codes * size, sheet.height - dims * size
        assert 0 < header < size and label_width > 0
        assert (
            min(sheet.convert("L").crop((0, header, label_width, sheet.height)).get_flattened_data())
        ) < 128  # labels drawn

    # GIF: one frame per code, every dim as a row, the same labels.
    gif = _download(page, "#export-traversal-gif")
    assert gif.suggested_filename == f"{MODEL}-traversal.gif"
    with Image.open(gif.path()) as animation:
        assert animation.format == "GIF" and animation.n_frames == codes
        assert animation.size == (label_width + size, header + dims * size)

    # Metrics CSV: each matrix is K factor rows x D dim columns.
    metrics_csv = _download(page, "#export-metrics-csv")
    assert metrics_csv.suggested_filename == f"{MODEL}-metrics.csv"
    header_row, *rows = list(csv.reader(io.StringIO(metrics_csv.path().read_text(encoding="utf-8"))))
    assert header_row == ["matrix", "factor", *[f"z{d}" for d in range(dims)]]
    nmi = [row for row in rows if row[0] == "infomec_nmi"]
    assert [row[1] for row in nmi] == factors and all(len(row) == 2 + dims for row in nmi)
    assert [[float(v) for v in row[2:]] for row in nmi] == model["metrics"]["matrices"]["infomec_nmi"]

    metrics_json = json.loads(_download(page, "#export-metrics-json").path().read_text(encoding="utf-8"))
    assert metrics_json["factor_names"] == factors and metrics_json["dim_names"] == model["dim_names"]

    # The latent the page holds, as CSV and JSON.
    latent = page.evaluate("() => window.__latentAtlas.latent")
    latent_csv = _download(page, "#export-latent-csv")
    assert latent_csv.suggested_filename == f"{MODEL}-latent.csv"
    header_row, *rows = list(csv.reader(io.StringIO(latent_csv.path().read_text(encoding="utf-8"))))
    assert header_row == ["dim", "value", "name"] and [row[0] for row in rows] == [f"z{d}" for d in range(dims)]
    assert [float(row[1]) for row in rows] == latent
    latent_json = json.loads(_download(page, "#export-latent-json").path().read_text(encoding="utf-8"))
    assert latent_json["model_id"] == MODEL and latent_json["latent"] == latent and len(latent_json["names"]) == dims

    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors
