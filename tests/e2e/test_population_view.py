"""Browser test of the population view: N encoded samples (fetched in the binary form) drawn as a
WebGL scatter in the principal plane with per-dim histograms, a click on a point loads that sample
into the explorer, the current image is the marked point, and a box selection shows the selected
samples' images as a grid."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

N = 1000


def test_population_scatter_draws_n_points_and_a_click_loads_that_sample(app, models, screenshot_path):
    page = app.page
    page.goto(f"{app.base_url}/#model=qlae-dsprites")
    page.wait_for_function(
        "() => { const h = window.__latentAtlas; return h && h.modelId === 'qlae-dsprites' && h.frames > 0 && h.idle; }"
    )
    assert page.is_visible("#population-panel")
    page.select_option("#population-n", str(N))
    page.click("#population-button")
    page.wait_for_function(
        f"() => document.querySelector('#population-panel').dataset.points === '{N}'", timeout=120_000
    )
    scatter = page.evaluate(
        """() => { const gd = document.querySelector('#population-scatter');
                   return gd.data.map((t) => ({type: t.type, n: t.x.length, indices: t.customdata?.length ?? 0})); }"""
    )
    assert scatter[0] == {"type": "scattergl", "n": N, "indices": N}
    assert len(scatter) == 2 and scatter[1]["n"] == 1  # the current image, marked
    dims = models["qlae-dsprites"]["latent_dim"]
    hist_axes = page.evaluate(
        "() => new Set(document.querySelector('#population-hists').data.map((t) => t.xaxis)).size"
    )
    assert hist_axes == dims
    assert "Click a point" in page.text_content("#population-note")
    assert page.query_selector("#population-scatter .gl-canvas-context, #population-scatter canvas") is not None
    page.locator("#population-panel").screenshot(path=screenshot_path("population.png"))

    # click one point where Plotly draws it: that sample is encoded and shown
    target = page.evaluate(
        """() => { const gd = document.querySelector('#population-scatter'); const t = gd.data[0];
                   const L = gd._fullLayout, box = gd.getBoundingClientRect();
                   let i = 0, best = -1;  // the point farthest from the others' centre: not hidden under a crowd
                   for (let j = 0; j < t.x.length; j++) { const r = Math.hypot(t.x[j], t.y[j]); if (r > best) { best = r; i = j; } }
                   return { index: t.customdata[i], px: box.left + L._size.l + L.xaxis.l2p(t.x[i]), py: box.top + L._size.t + L.yaxis.l2p(t.y[i]) }; }"""
    )
    page.mouse.move(target["px"], target["py"])
    page.mouse.click(target["px"], target["py"])
    page.wait_for_function(
        "(i) => document.querySelector('#original-caption').textContent.includes(`sample ${i}`)", arg=target["index"]
    )
    page.wait_for_function("() => window.__latentAtlas.idle")
    assert f"src=ds:{target['index']}" in page.url  # the link holds the sample
    # the clicked sample and its 8 nearest in the population, as images
    page.wait_for_function("() => document.querySelector('#population-selection').dataset.shown === '9'")
    assert f"Sample {target['index']} (first) and its 8 nearest" in page.text_content("#population-selection-note")
    assert page.evaluate("() => document.querySelector('#population-scatter').data[1].hovertemplate").startswith(
        f"sample {target['index']}"
    )
    assert app.console_errors == [], app.console_errors


def test_a_box_selection_shows_the_selected_images_as_a_grid(app, models):
    page = app.page
    binary = []
    page.on("response", lambda r: "/population?" in r.url and binary.append(r.headers.get("content-type")))
    page.goto(f"{app.base_url}/#model=qlae-dsprites")
    page.wait_for_function(
        "() => { const h = window.__latentAtlas; return h && h.modelId === 'qlae-dsprites' && h.frames > 0 && h.idle; }"
    )
    page.select_option("#population-n", str(N))
    page.click("#population-button")
    page.wait_for_function(
        f"() => document.querySelector('#population-panel').dataset.points === '{N}'", timeout=120_000
    )
    assert binary == ["application/vnd.latentatlas.population"]
    assert page.is_hidden("#population-selection")
    page.select_option("#population-drag", "select")
    assert page.evaluate("() => document.querySelector('#population-scatter')._fullLayout.dragmode") == "select"
    # drag a box over the middle of the plot area: the crowd around the plane's centre
    box = page.evaluate(
        """() => { const gd = document.querySelector('#population-scatter'), s = gd._fullLayout._size;
                   const r = gd.getBoundingClientRect();
                   return { x0: r.left + s.l + 0.3 * s.w, y0: r.top + s.t + 0.3 * s.h,
                            x1: r.left + s.l + 0.7 * s.w, y1: r.top + s.t + 0.7 * s.h }; }"""
    )
    page.mouse.move(box["x0"], box["y0"])
    page.mouse.down()
    page.mouse.move((box["x0"] + box["x1"]) / 2, (box["y0"] + box["y1"]) / 2, steps=5)
    page.mouse.move(box["x1"], box["y1"], steps=5)
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('#population-selection').dataset.shown", timeout=30_000)
    shown = int(page.get_attribute("#population-selection", "data-shown"))
    selected = page.evaluate("() => document.querySelector('#population-scatter').data[0].selectedpoints.length")
    assert 0 < shown == min(selected, 64)
    assert "selected" in page.text_content("#population-selection-note")
    size = models["qlae-dsprites"]["image_size"]
    natural = page.evaluate(
        "() => { const i = document.querySelector('#population-grid'); return [i.naturalWidth, i.naturalHeight]; }"
    )
    assert natural == [min(shown, 8) * size, -(-shown // 8) * size]
    assert app.console_errors == [], app.console_errors


def test_a_umap_layout_redraws_the_same_samples_and_pca_comes_back(app, server):
    """Layout UMAP: the server's job lays out the same samples (its x and y, in the population's
    order), the axes say so and the current image is not placed; PCA brings the plane back."""
    page, model, n = app.page, "qlae-dsprites", 1000
    page.goto(f"{app.base_url}/#model={model}")
    page.wait_for_function(f"() => window.__latentAtlas?.modelId === '{model}' && window.__latentAtlas.idle")
    page.select_option("#population-n", str(n))
    page.click("#population-button")
    page.wait_for_function(
        f"() => document.querySelector('#population-panel').dataset.points === '{n}'", timeout=120_000
    )
    plane = page.evaluate("() => Array.from(document.querySelector('#population-scatter').data[0].x.slice(0, 5))")
    page.select_option("#population-layout", "umap")
    page.wait_for_function(
        "() => document.querySelector('#population-panel').dataset.layout === 'umap'", timeout=180_000
    )
    drawn = page.evaluate(
        """() => { const gd = document.querySelector('#population-scatter');
                   return {traces: gd.data.length, n: gd.data[0].x.length, x: Array.from(gd.data[0].x),
                           title: gd.layout.xaxis.title.text}; }"""
    )
    started = server.post_json(f"/api/models/{model}/population-layout", {"method": "umap", "n": n, "seed": 0})
    job = server.wait_job(started["job_id"])  # cached now: the layout the page drew
    assert job["result"]["cached"] is True
    assert drawn["n"] == n and drawn["traces"] == 1 and drawn["title"] == "UMAP 1"
    assert drawn["x"] == pytest.approx(job["result"]["x"], abs=1e-4)
    assert "UMAP of 1,000 samples" in page.text_content("#population-note")
    page.select_option("#population-layout", "pca")
    page.wait_for_function("() => document.querySelector('#population-panel').dataset.layout === 'pca'")
    back = page.evaluate("() => Array.from(document.querySelector('#population-scatter').data[0].x.slice(0, 5))")
    assert (
        back == pytest.approx(plane)
        and page.evaluate("() => document.querySelector('#population-scatter').data.length") == 2
    )
    assert app.console_errors == [], app.console_errors
