"""Browser test of the population view: N encoded samples drawn as a WebGL scatter in the
principal plane with per-dim histograms, a click on a point loads that sample into the
explorer, and the current image is the marked point."""

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
                   return gd.data.map((t) => ({type: t.type, n: t.x.length, hasIndices: Array.isArray(t.customdata)})); }"""
    )
    assert scatter[0] == {"type": "scattergl", "n": N, "hasIndices": True}
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
    assert page.evaluate("() => document.querySelector('#population-scatter').data[1].hovertemplate").startswith(
        f"sample {target['index']}"
    )
    assert app.console_errors == [], app.console_errors
