"""Keyboard use: the first Tab on every page (the API docs too) reaches a skip link that moves
focus past the header without changing the URL's hash (the view's state)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e
MODEL = "qlae-dsprites"
PAGES = [
    f"/#model={MODEL}",
    "/compare.html#dataset=dsprites",
    "/ensembles.html",
    "/docs",
]  # the static site: test_static_site.py


def first_tab(page) -> dict:
    page.keyboard.press("Tab")
    return page.evaluate(
        "() => { const a = document.activeElement; const r = a.getBoundingClientRect();"
        " return {cls: a.className, text: a.textContent, href: a.getAttribute('href'), top: r.top, left: r.left, right: r.right}; }"
    )


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("path", PAGES)
def test_the_first_tab_reaches_a_skip_link(app, path, width):
    page = app.page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(app.base_url + path)
    page.wait_for_load_state("networkidle")
    focused = first_tab(page)
    assert "skip-link" in focused["cls"], focused
    assert focused["text"].startswith("Skip to")
    assert focused["top"] >= 0 and focused["left"] >= 0 and focused["right"] <= width  # shown when focused
    if path == "/docs":
        return
    before = page.evaluate("() => location.hash")
    page.keyboard.press("Enter")
    target = focused["href"][1:]
    page.wait_for_function("(id) => document.activeElement && document.activeElement.id === id", arg=target)
    assert page.evaluate("() => location.hash") == before  # the view's state is untouched


def test_the_skip_link_brings_the_first_slider_within_a_few_tabs(app):
    page = app.page
    page.goto(f"{app.base_url}/#model={MODEL}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{MODEL}' && h.frames > 0 && h.idle; }}"
    )
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    for _tabs in range(1, 9):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.matches('#sliders input[type=range]')"):
            break
    else:
        pytest.fail("the first slider is more than 8 Tabs after the skip link")


def test_traversal_tiles_are_used_from_the_keyboard(app):
    page = app.page
    page.goto(f"{app.base_url}/#model={MODEL}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{MODEL}' && h.frames > 0 && h.idle; }}"
    )
    page.wait_for_function("() => document.querySelector('#traversal-img').naturalHeight > 0")
    for _ in range(80):  # reach the grid by Tab alone
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id === 'traversal-img'"):
            break
    else:
        pytest.fail("Tab never reaches the traversal grid")
    assert page.locator("#traversal-overlay .cursor").count() == 1
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    readout = page.text_content("#traversal-readout")
    assert readout.startswith("z2") and "step 2/" in readout and "Enter" in readout, readout
    value = float(readout.split("= ")[1].split(" ")[0])
    page.keyboard.press("Enter")
    page.wait_for_function("(v) => Math.abs(window.__latentAtlas.latent[2] - v) < 2e-3", arg=value)
    page.keyboard.press("Tab")
    assert page.locator("#traversal-overlay .cursor").count() == 0  # the cursor leaves with the focus


def test_curve_points_and_heatmap_cells_are_used_from_the_keyboard(app):
    page = app.page
    flow = "eoflow-dsprites"
    page.goto(f"{app.base_url}/#model={flow}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{flow}' && h.frames > 0 && h.idle; }}"
    )
    page.wait_for_function("() => document.querySelector('#flow-psnr-plot').data")
    page.focus("#flow-psnr-plot")
    assert page.evaluate("() => document.querySelector('#flow-psnr-plot').tabIndex") == 0  # a Tab stop
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    readout = page.text_content("#flow-psnr-plot-readout")
    keep = int(readout.split("C = ")[1].split(" ")[0])
    page.keyboard.press("Enter")
    page.wait_for_function("(c) => document.querySelector('#flow-keep-value').textContent === `C = ${c}`", arg=keep)

    page.goto(f"{app.base_url}/ensembles.html")
    page.wait_for_function("() => { const v = window.__ensembleView; return v && v.rows > 0 && v.idle; }")
    page.focus("#similarity-plot")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert "NMI" in page.text_content("#similarity-plot-readout")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => { const p = document.querySelector('#pair-summary'); return p && !p.textContent.startsWith('Click'); }"
    )


def test_the_metrics_heatmaps_are_used_from_the_keyboard(app):
    page = app.page
    model = "qlae-shapes3d"
    page.goto(f"{app.base_url}/#model={model}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{model}' && h.frames > 0 && h.idle; }}"
    )
    for selector, dim in (("#nmi-heatmap", 3), ("#dci-heatmap", 1)):
        page.wait_for_function(f"() => document.querySelector('{selector}').data")
        page.focus(selector)
        assert page.evaluate(f"() => document.querySelector('{selector}').tabIndex") == 0  # a Tab stop
        page.keyboard.press("ArrowDown")  # the second factor
        for _ in range(dim):
            page.keyboard.press("ArrowRight")
        readout = page.text_content(f"{selector}-readout")
        assert readout.startswith(f"z{dim}") and "Enter picks" in readout, readout
        page.keyboard.press("Enter")  # as a click on the column: that latent's slider is focused
        page.wait_for_function("(d) => document.activeElement?.dataset?.dim === String(d)", arg=dim)
