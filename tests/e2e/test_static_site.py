"""The static explorer (`latentatlas export-site`), served by a plain static file server (no
FastAPI): open an image, which is encoded in the browser, move a slider, read the traversal,
download the decode; no request ever carries the image, and every request stays on the static host."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devtools import free_port
from latentatlas.config import Settings
from latentatlas.serve.static_site import export_site

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SITE_MODELS = ["qlae-shapes3d", "vae-dsprites"]


@pytest.fixture(scope="module")
def static_site(tmp_path_factory, chromium_path):
    out = tmp_path_factory.mktemp("site") / "site"
    report = export_site([REPO / "models" / m for m in SITE_MODELS], out, REPO / "frontend", Settings().onnx_cache_dir)
    assert report.models == SITE_MODELS and report.skipped == {}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/site.json", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    server.kill()
    server.wait()


def test_static_site_encodes_slides_traverses_and_downloads_without_a_server(browser, static_site, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(60_000)
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{static_site}/#model=qlae-shapes3d")
    page.wait_for_function(
        "() => { const h = window.__latentAtlas; return h && h.modelId === 'qlae-shapes3d' && h.frames > 0 && h.idle; }"
    )

    # an image of the user's: a seeded pattern, as a PNG file
    pattern = (np.random.default_rng(3).random((48, 80, 3)) * 255).astype(np.uint8)
    upload = tmp_path / "mine.png"
    Image.fromarray(pattern).save(upload)
    secret = upload.read_bytes()
    before = page.evaluate("() => window.__latentAtlas.latent")
    page.set_input_files("#file-input", str(upload))
    page.wait_for_function("() => document.querySelector('#original-caption').textContent.includes('mine.png')")
    page.wait_for_function("() => window.__latentAtlas.idle")
    after = page.evaluate("() => window.__latentAtlas.latent")
    assert after != before
    assert page.get_attribute("#reconstruction-img", "src").startswith("data:image/png")

    frames = page.evaluate("() => window.__latentAtlas.frames")
    page.locator("#sliders input[type=range]").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("(n) => window.__latentAtlas.frames > n && window.__latentAtlas.idle", arg=frames)
    assert page.evaluate("() => window.__latentAtlas.latent")[0] != after[0]
    page.wait_for_function("() => !document.querySelector('#grid-download').disabled")

    with page.expect_download() as download:
        page.click("#download-button")
    decoded = Image.open(download.value.path())
    assert decoded.size == (64, 64)
    with page.expect_download() as grid_download:
        page.click("#grid-download")
    grid = Image.open(grid_download.value.path())
    info = page.evaluate("() => ({dims: document.querySelectorAll('#traversal-labels .grid-label').length})")
    assert grid.size[1] == 64 * info["dims"] and grid.size[0] % 64 == 0

    context.close()
    assert not errors, errors
    hosts = {r.url.split("/")[2] for r in requests if r.url.startswith("http")}
    assert hosts == {static_site.split("/")[2]}, hosts
    assert all(r.method == "GET" for r in requests), [(r.method, r.url) for r in requests if r.method != "GET"]
    assert not any(r.post_data_buffer and secret[:64] in r.post_data_buffer for r in requests)
    assert not any("mine.png" in r.url for r in requests)


def _open(browser, url: str, width: int = 1280):
    context = browser.new_context(viewport={"width": width, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return context, page, errors


def _idle(page, model_id: str) -> None:
    page.wait_for_function(
        "(id) => { const h = window.__latentAtlas; return h && h.modelId === id && h.frames > 0 && h.idle; }",
        arg=model_id,
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_static_site_keeps_its_view_in_the_url_names_dims_and_clears_stale_errors(
    browser, static_site, tmp_path, width
):
    context, page, errors = _open(browser, f"{static_site}/#model=qlae-shapes3d", width)
    _idle(page, "qlae-shapes3d")
    # the first Tab reaches the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('skip-link')")
    # dims named from the card, as on the server's explorer
    site = json.loads(urllib.request.urlopen(f"{static_site}/site.json", timeout=5).read())
    model = next(m for m in site["models"] if m["id"] == "qlae-shapes3d")
    named = [d for d, name in enumerate(model.get("dim_names") or []) if name]
    assert named, "the shipped card names some dims"
    shown = page.locator("#sliders .dim-factor").all_text_contents()
    assert all(shown[d].startswith(model["dim_names"][d]["factor"]) for d in named), shown
    # the latent and the traversal's steps live in the link, and a reload restores them
    page.locator("#sliders input[type=range]").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.__latentAtlas.idle && location.hash.includes('z=')")
    page.wait_for_timeout(300)  # the link is written at most every 150 ms
    latent = page.evaluate("() => window.__latentAtlas.latent")
    assert "model=qlae-shapes3d" in page.url
    page.reload()
    _idle(page, "qlae-shapes3d")
    restored = page.evaluate("() => window.__latentAtlas.latent")
    assert restored == pytest.approx(latent, rel=1e-5, abs=1e-6)
    # an error about an opened file is gone once another model is picked
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not an image at all")
    page.set_input_files("#file-input", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    page.select_option("#model-select", "vae-dsprites")
    _idle(page, "vae-dsprites")
    assert page.is_hidden("#error")
    assert "model=vae-dsprites" in page.url
    context.close()
    assert not errors, errors
