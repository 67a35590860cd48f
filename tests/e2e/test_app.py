"""Browser tests: the real app, the real server, the shipped models, the system Chromium."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

DSPRITES = "qlae-dsprites"
SHAPES3D = "qlae-shapes3d"


# ------------------------------------------------------------------ helpers


def open_app(app, fragment: str = ""):
    """Load the app and wait until the model is shown, a frame decoded and the page idle."""
    page = app.page
    page.goto(f"{app.base_url}/{fragment}")
    wait_idle(page)
    return page


def wait_idle(page, model_id: str | None = None) -> None:
    page.wait_for_function(
        """(id) => {
            const h = window.__latentAtlas;
            return h && h.modelId && (!id || h.modelId === id) && h.frames > 0 && h.idle;
        }""",
        arg=model_id,
    )


def natural_size(page, selector: str) -> tuple[int, int]:
    return tuple(page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]"))


def latent(page) -> list[float]:
    return page.evaluate("() => window.__latentAtlas.latent")


def src(page, selector: str) -> str:
    return page.get_attribute(selector, "src") or ""


def wait_src_change(page, selector: str, old: str) -> str:
    page.wait_for_function(
        "([sel, old]) => { const img = document.querySelector(sel); return img.src && img.src !== old && img.complete && img.naturalWidth > 0; }",
        arg=[selector, old],
    )
    return src(page, selector)


def load_sample(page, model_id: str, size: int) -> None:
    """Load a dataset sample; its original, reconstruction and decode are at the model's ``size``."""
    before = src(page, "#original-img")
    page.click("#sample-button")
    wait_src_change(page, "#original-img", before)
    wait_idle(page, model_id)
    for selector in ("#original-img", "#reconstruction-img", "#decode-img"):
        assert natural_size(page, selector) == (size, size), selector


def select_model(page, model_id: str) -> None:
    page.select_option("#model-select", model_id)
    wait_idle(page, model_id)


def sorted_codes(model: dict, dim: int) -> list[float]:
    return sorted(model["codebooks"][dim])


# ------------------------------------------------------------------ tests


def test_page_loads_clean_and_local(app, models):
    page = open_app(app)
    # The model picker lists every served model; the first is shown.
    options = page.eval_on_selector_all("#model-select option", "os => os.map(o => o.value)")
    assert sorted(options) == sorted(models)
    model = models[page.input_value("#model-select")]
    # One slider per latent dim, labelled for assistive technology.
    sliders = page.locator("#sliders input[type=range]")
    assert sliders.count() == model["latent_dim"]
    for d in range(model["latent_dim"]):
        slider = page.locator(f"#sliders input[type=range][data-dim='{d}']")
        assert slider.evaluate("i => i.labels[0].textContent").startswith(f"z{d}")  # named by its visible label
    # Plotly drew the loss curves, on a log y axis.
    page.wait_for_selector("#loss-plot svg.main-svg")
    assert page.locator("#loss-plot .scatterlayer .trace").count() >= 2
    assert page.evaluate("() => document.querySelector('#loss-plot').layout.yaxis.type") == "log"
    assert "PSNR" in page.text_content("#model-card")
    # The decode panel shows an image at the model's size.
    assert src(page, "#decode-img").startswith(("data:image/png", "blob:"))
    assert natural_size(page, "#decode-img") == (model["image_size"], model["image_size"])
    assert page.evaluate("() => window.__latentAtlas.liveState") == "live"
    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors
    assert app.requests, "no requests recorded"
    assert app.websockets, "the live decoder never opened its WebSocket"
    assert app.non_local() == []


def test_upload_photo_shows_reconstruction(app, models, tmp_path):
    from skimage import data

    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    page = open_app(app, f"#model={SHAPES3D}")
    size = models[SHAPES3D]["image_size"]
    before = src(page, "#reconstruction-img")
    page.set_input_files("#file-input", str(photo))
    after = wait_src_change(page, "#reconstruction-img", before)
    assert after.startswith("data:image/png;base64,")
    assert natural_size(page, "#reconstruction-img") == (size, size)
    assert natural_size(page, "#original-img") == (size, size)
    assert "astronaut.png" in page.text_content("#original-caption")
    # The server's PSNR beside the held-out one, and a line saying the photo is far from the data.
    caption = page.text_content("#reconstruction-caption")
    assert f"held-out {models[SHAPES3D]['heldout']['psnr_db']:.1f} dB" in caption and "PSNR" in caption
    context = page.text_content("#encode-context")
    assert "trained on shapes3d" in context and "far from what the model was trained on" in context
    assert "warn" in page.get_attribute("#encode-context", "class")
    wait_idle(page)
    assert natural_size(page, "#decode-img") == (size, size)

    # Drag and drop: a PNG drawn in the page, dropped on the images panel, is encoded too.
    before = src(page, "#reconstruction-img")
    page.evaluate(
        """async () => {
            const canvas = document.createElement('canvas');
            canvas.width = canvas.height = 96;
            const ctx = canvas.getContext('2d');
            ctx.fillStyle = '#204080'; ctx.fillRect(0, 0, 96, 96);
            ctx.fillStyle = '#e0c040'; ctx.beginPath(); ctx.arc(48, 60, 20, 0, 2 * Math.PI); ctx.fill();
            const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
            const transfer = new DataTransfer();
            transfer.items.add(new File([blob], 'dropped.png', {type: 'image/png'}));
            const zone = document.querySelector('#drop-zone');
            for (const type of ['dragenter', 'dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }"""
    )
    wait_src_change(page, "#reconstruction-img", before)
    assert "dropped.png" in page.text_content("#original-caption")
    assert natural_size(page, "#original-img") == (size, size)

    # Paste: an image on the clipboard is encoded as well.
    before = src(page, "#reconstruction-img")
    page.evaluate(
        """async () => {
            const canvas = document.createElement('canvas');
            canvas.width = canvas.height = 64;
            const ctx = canvas.getContext('2d');
            ctx.fillStyle = '#803020'; ctx.fillRect(0, 0, 64, 64);
            const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
            const transfer = new DataTransfer();
            transfer.items.add(new File([blob], 'clipboard.png', {type: 'image/png'}));
            document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true, cancelable: true}));
        }"""
    )
    wait_src_change(page, "#reconstruction-img", before)
    assert "clipboard.png" in page.text_content("#original-caption")
    wait_idle(page)
    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors


def test_api_error_detail_is_shown(app, tmp_path):
    page = open_app(app)
    bogus = tmp_path / "notes.png"
    bogus.write_text("this is not an image")
    page.set_input_files("#file-input", str(bogus))
    page.wait_for_selector("#error:not([hidden])")
    text = page.text_content("#error-text")
    assert "not a supported image" in text  # the server's `detail`
    assert "415" in text
    assert "Error" in page.text_content("#status")
    page.click("#error-dismiss")
    assert page.is_hidden("#error")


def test_shapes3d_sample_sliders_traversal_and_screenshot(app, models, screenshot_path):
    page = open_app(app)
    select_model(page, SHAPES3D)
    model = models[SHAPES3D]
    size, dims = model["image_size"], model["latent_dim"]
    codes = len(model["codebooks"][0])

    # A dataset sample: original, reconstruction and decode at the model's size.
    load_sample(page, SHAPES3D, size)
    assert page.locator("#samples .thumb").count() > 0

    # QLAE sliders span the sorted codebook and hold code values only.
    encoded = z = latent(page)
    assert len(z) == dims
    for d in range(dims):
        assert z[d] in sorted_codes(model, d), f"z{d}={z[d]} is not one of its codes"
    slider = page.locator("#sliders input[data-dim='3']")
    assert float(slider.get_attribute("min")) == pytest.approx(sorted_codes(model, 3)[0])
    assert float(slider.get_attribute("max")) == pytest.approx(sorted_codes(model, 3)[-1])
    assert page.locator("#sliders .slider-row[data-dim='3'] .tick").count() == codes

    # The traversal grid: rows = dims, columns = codebook size, rows labelled z<d>.
    page.wait_for_function(f"() => document.querySelector('#traversal-img').naturalHeight === {dims * size}")
    assert natural_size(page, "#traversal-img") == (codes * size, dims * size)
    labels = page.locator("#traversal-labels .grid-label > span").all_text_contents()
    assert labels == [f"z{d}" for d in range(dims)]
    page.wait_for_selector("#loss-plot svg.main-svg")

    # "Name dims" estimates each dim's factor by intervention and labels sliders and grid rows.
    page.click("#factors-button")
    page.wait_for_function("() => !document.querySelector('#factors-button').disabled")
    named = [t for t in page.locator("#sliders .dim-factor").all_text_contents() if t]
    assert named and {t.rsplit(" ", 1)[0] for t in named} <= set(model["factor_names"])  # "factor NMI"
    assert page.locator("#traversal-labels .grid-label small").count() == len(named)
    assert page.is_hidden("#error")

    page.mouse.move(0, 0)
    screenshot = screenshot_path("screenshot.png")
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    # Clicking a traversal tile sets that dim to the tile's value (row 2, first column).
    box = page.locator("#traversal-img").bounding_box()
    page.mouse.click(box["x"] + box["width"] / (2 * codes), box["y"] + box["height"] * 2.5 / dims)
    page.wait_for_function("(v) => window.__latentAtlas.latent[2] === v", arg=sorted_codes(model, 2)[0])
    wait_idle(page, SHAPES3D)
    z = latent(page)

    # Keyboard: the arrow key steps z3 to the neighbouring code and the decode follows.
    i = sorted_codes(model, 3).index(z[3])
    key, j = ("ArrowRight", i + 1) if i + 1 < codes else ("ArrowLeft", i - 1)
    old = src(page, "#decode-img")
    frames = page.evaluate("() => window.__latentAtlas.frames")
    slider.focus()
    page.keyboard.press(key)
    page.wait_for_function(f"() => window.__latentAtlas.frames > {frames}")
    wait_idle(page, SHAPES3D)  # a frame decoded in the page reaches the <img> once the keys pause
    assert latent(page)[3] == sorted_codes(model, 3)[j]
    assert src(page, "#decode-img") != old

    # Dragging: set a value between codes and fire input events; it snaps, and the image changes.
    codes5 = sorted_codes(model, 5)
    target = codes5[0] if latent(page)[5] != codes5[0] else codes5[-1]
    old = src(page, "#decode-img")
    page.eval_on_selector(
        "#sliders input[data-dim='5']",
        """(el, v) => { for (const f of [0.8, 0.9, 1.0]) { el.value = String(v * f + (1 - f) * Number(el.value));
                        el.dispatchEvent(new Event('input', {bubbles: true})); } }""",
        target,
    )
    wait_src_change(page, "#decode-img", old)
    wait_idle(page, SHAPES3D)
    assert latent(page)[5] in codes5
    assert page.evaluate("() => window.__latentAtlas.lastDecodeMs") > 0

    # Reset returns to the encoded latent.
    page.click("#reset-button")
    page.wait_for_function("(z) => window.__latentAtlas.latent.every((v, i) => v === z[i])", arg=encoded)

    # Download hands over the decode as a PNG.
    with page.expect_download() as info:
        page.click("#download-button")
    download = info.value
    assert download.suggested_filename.endswith(".png")
    with Image.open(download.path()) as image:
        assert image.size == (size, size)
    assert app.console_errors == [], app.console_errors


def test_url_state_restores_after_reload(app, models):
    page = open_app(app, f"#model={SHAPES3D}")
    model = models[SHAPES3D]
    slider = page.locator("#sliders input[data-dim='1']")
    slider.focus()
    z0 = latent(page)
    page.keyboard.press("ArrowLeft" if z0[1] != sorted_codes(model, 1)[0] else "ArrowRight")
    page.wait_for_function("(z) => window.__latentAtlas.latent[1] !== z[1]", arg=z0)
    wait_idle(page, SHAPES3D)
    z1 = latent(page)
    page.wait_for_function("() => location.hash.includes('z=')")
    page.wait_for_function(
        "(z) => new URLSearchParams(location.hash.slice(1)).get('z').split(',').map(Number)"
        ".every((v, i) => Math.abs(v - z[i]) < 1e-5)",
        arg=z1,
    )
    url = page.url
    assert f"model={SHAPES3D}" in url

    page.reload()
    wait_idle(page, SHAPES3D)
    assert page.url == url
    assert page.input_value("#model-select") == SHAPES3D
    assert latent(page) == z1  # QLAE: the link's values snap back to the exact codes
    assert src(page, "#decode-img")
    assert src(page, "#original-img").startswith("data:image/png")  # the dataset sample came back too

    # The same link in a fresh page (a shared view) restores the same state.
    other = page.context.new_page()
    other.goto(url)
    wait_idle(other, SHAPES3D)
    assert latent(other) == z1
    other.close()
    assert app.console_errors == [], app.console_errors


def test_bad_link_and_http_fallback(app, models):
    """A link to an unknown model says so and shows the first model; with the WebSocket
    refused, live decoding falls back to POST /decode."""
    page = app.page
    page.route_web_socket(re.compile(r".*/live$"), lambda ws: ws.close())
    # the server path (decoding in the browser, the default, would answer the slider itself)
    page.add_init_script("localStorage.setItem('latentatlas.decodeInBrowser', '0')")
    page.goto(f"{app.base_url}/#model=no-such-model&z=1,2,3")
    page.wait_for_selector("#model-select:not([disabled])")  # the model list has arrived
    first = page.eval_on_selector("#model-select option", "o => o.value")
    wait_idle(page, first)
    assert page.is_visible("#error")
    assert "no-such-model" in page.text_content("#error-text")
    page.wait_for_function("() => window.__latentAtlas.liveState === 'http'")

    frames = page.evaluate("() => window.__latentAtlas.frames")
    slider = page.locator("#sliders input[data-dim='0']")
    slider.focus()
    page.keyboard.press("End")
    page.keyboard.press("Home")
    page.wait_for_function(f"() => window.__latentAtlas.frames > {frames}")
    assert src(page, "#decode-img").startswith("blob:")
    assert any(url.endswith("/decode") for url in app.requests)
    assert natural_size(page, "#decode-img") == (models[first]["image_size"],) * 2


def test_metrics_panel_heatmaps_and_column_pick(app, server, models):
    """The shipped model's card has metrics: bars, NMI and DCI heatmaps and the comparison
    render on load, dims are named from the NMI, and clicking a heatmap column picks that
    latent's slider."""
    model = models[SHAPES3D]
    metrics = model["metrics"]
    assert metrics, "run `latentatlas evaluate models/qlae-shapes3d` so the shipped card has metrics"
    dims, factors = model["latent_dim"], model["factor_names"]
    page = open_app(app, f"#model={SHAPES3D}")

    page.wait_for_selector("#metrics-bars svg.main-svg")

    # one bar per score the catalogue shows and the card has (an estimate only where its metric is missing)
    def has(key: str) -> bool:
        value = metrics["values"]
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return False
            value = value[part]
        return isinstance(value, int | float)

    catalogue = server.json("/api/metric-catalogue")["metrics"]
    expected = {
        score["label"]: score["key"]
        for m in catalogue
        if not (m.get("stands_in_for") and m["stands_in_for"] in metrics["values"])
        for score in m["scores"]
        if score["shown"] and has(score["key"])
    }
    drawn = page.evaluate("() => document.querySelector('#metrics-bars').data[0].y")
    assert sorted(drawn) == sorted(expected) and len(expected) >= 13
    assert page.locator("#metrics-bars .barlayer .point").count() == len(expected)
    # Each score has a tick at its null and one at its ceiling, from the card.
    bars, null, ceiling = page.evaluate(
        "() => document.querySelector('#metrics-bars').data.map(t => ({name: t.name, y: t.y, x: t.x}))"
    )
    assert (null["name"], ceiling["name"]) == ("shuffled-rows null", "ceiling (perfect latents)")
    keys = expected  # label -> the card's score key
    assert {"InfoM", "MIG", "DCI D", "FactorVAE", "BetaVAE", "MED D"} <= set(keys)
    baselines = metrics["baselines"]
    assert null["y"] == ceiling["y"] == bars["y"] and set(bars["y"]) == set(keys)
    assert "dci.disentanglement" in baselines["ceiling"], (
        "run `latentatlas evaluate models/qlae-shapes3d --baselines-only --dci-baselines`"
    )
    # the card's InfoMEC was scored on the codes: its ticks are the codes estimator's null and ceiling
    assert metrics["infomec_latents"] == baselines["infomec_latents"] == "codes"
    assert baselines["null_mean"]["infomec.infom"] == baselines["null_mean"]["infomec_codes.infom"]
    for label, x_null, x_ceiling in zip(null["y"], null["x"], ceiling["x"]):
        assert (x_null, x_ceiling) == (
            pytest.approx(baselines["null_mean"][keys[label]]),
            pytest.approx(baselines["ceiling"][keys[label]]),
        ), label
    page.wait_for_selector("#nmi-heatmap svg.main-svg")
    page.wait_for_selector("#dci-heatmap svg.main-svg")
    nmi = page.evaluate("() => document.querySelector('#nmi-heatmap').data[0]")
    assert nmi["type"] == "heatmap" and nmi["y"] == factors and nmi["x"] == list(range(dims))
    for selector, unit in (("#nmi-heatmap", "NMI"), ("#dci-heatmap", "importance")):  # fixed 0-1 scales, titled bars
        trace = page.evaluate(f"() => document.querySelector('{selector}').data[0]")
        assert (trace["zmin"], trace["zmax"]) == (0, 1) and trace["colorbar"]["title"]["text"] == unit
    ticks = page.evaluate("() => document.querySelector('#nmi-heatmap').layout.xaxis.ticktext")
    inactive = [d for d, on in enumerate(metrics["matrices"]["infomec_active"]) if not on]
    assert ticks == [f"z{d}∅" if d in inactive else f"z{d}" for d in range(dims)]
    assert page.evaluate("() => document.querySelector('#nmi-heatmap').layout.shapes.length") == len(inactive)

    # The comparison lists the served models with metrics on the same dataset, 13 scores and
    # the held-out PSNR; the button offers a recompute.
    with_metrics = [m for m in models if models[m]["metrics"] and models[m]["dataset"] == model["dataset"]]
    header = page.locator("#metrics-compare thead th").all_text_contents()
    # A flow's column says its metrics cover only its top latents.
    expected = [
        f"{m} (top {models[m]['metrics']['latent_dim']})" if models[m]["capabilities"]["ordered"] else m
        for m in with_metrics
    ]
    assert sorted(header[1:]) == sorted(expected) and header[0] == "score"
    # An exact inverse is never the "best" PSNR.
    psnr_cells = page.locator("#metrics-compare tbody tr").last.locator("td")
    for i, m in enumerate(header[1:]):
        if models[m.split(" ")[0]]["capabilities"]["likelihood"]:
            assert "best" not in (psnr_cells.nth(i).get_attribute("class") or "")
    # a row per shown score some compared model has (this model's among them), then PSNR
    rows = page.locator("#metrics-compare tbody th").all_text_contents()
    assert rows[-1] == "PSNR dB" and set(keys) <= set(rows[:-1]) and len(rows) == len(set(rows))
    psnr_row = page.locator("#metrics-compare tbody tr").last.locator("td").all_text_contents()
    assert len(psnr_row) == len(with_metrics)
    for column, value in zip(header[1:], psnr_row):  # an encoder without a decoder has no reconstruction PSNR
        model_id = column.split(" ")[0]
        assert float(value) > 10 if models[model_id]["capabilities"]["decode"] else value == "–", (column, value)
    assert page.text_content("#metrics-button") == "Recompute"
    assert f"{metrics['samples']:,}" in page.text_content("#metrics-status")

    # Dims are named by the server (best factor by NMI, only at or above its threshold, never
    # inactive), shown with their NMI, and the rule is stated beside the sliders.
    named = page.locator("#sliders .dim-factor").all_text_contents()
    threshold = model["dim_name_threshold"]
    expected = [f"{n['factor']} {n['nmi']:.2f}" if n else "" for n in model["dim_names"]]
    assert named == expected and any(expected)
    nmi_matrix = np.asarray(metrics["matrices"]["infomec_nmi"])
    for d, name in enumerate(model["dim_names"]):
        best = nmi_matrix[:, d].max()
        if name is None:
            assert d in inactive or best < threshold
        else:
            assert (
                d not in inactive
                and name["nmi"] >= threshold
                and name["factor"] == factors[int(nmi_matrix[:, d].argmax())]
            )
    assert f"at least {threshold}" in page.text_content("#sliders-hint")

    # Clicking a column of either heatmap focuses that latent's slider.
    for selector, dim in (("#nmi-heatmap", 7), ("#dci-heatmap", 2)):
        page.locator(selector).scroll_into_view_if_needed()
        box = page.locator(f"{selector} .nsewdrag").bounding_box()
        page.mouse.click(box["x"] + box["width"] * (dim + 0.5) / dims, box["y"] + box["height"] / 2)
        page.wait_for_function("(d) => document.activeElement?.dataset?.dim === String(d)", arg=dim)
    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors


def test_metrics_job_sizes_from_the_panel_and_cancels_without_writing(app, models):
    """The panel sends the chosen samples and votes; Cancel stops the job on the server, which
    writes nothing (no run file, the shipped card untouched)."""
    from pathlib import Path

    model_id = "qlae-dsprites-3k"
    folder = Path(__file__).resolve().parents[2] / "models" / model_id
    card_before = (folder / "card.json").read_bytes()
    runs_before = sorted((folder / "runs").glob("*")) if (folder / "runs").exists() else []
    page = open_app(app, f"#model={model_id}")
    page.wait_for_selector("#metrics-bars svg.main-svg")
    page.fill("#metrics-samples", "9000")
    page.fill("#metrics-train-votes", "300")
    page.fill("#metrics-eval-votes", "150")
    with page.expect_request(
        lambda r: r.url.endswith(f"/api/models/{model_id}/metrics") and r.method == "POST"
    ) as started:
        page.click("#metrics-button")
    assert started.value.post_data_json == {"samples": 9000, "train_votes": 300, "eval_votes": 150}
    page.wait_for_selector("#metrics-cancel:not([hidden])")
    page.click("#metrics-cancel")
    page.wait_for_function(
        "() => document.querySelector('#metrics-status').textContent.startsWith('Cancelled')", timeout=60_000
    )
    assert page.is_hidden("#metrics-cancel") and not page.is_disabled("#metrics-button")
    assert (folder / "card.json").read_bytes() == card_before
    assert (sorted((folder / "runs").glob("*")) if (folder / "runs").exists() else []) == runs_before
    assert app.console_errors == [], app.console_errors
