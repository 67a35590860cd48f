"""The models-on-this-dataset table is wider than its box: the current model's column is scrolled
into view and a cue under the box says the table scrolls sideways (desktop and phone)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("width", [1280, 390])
def test_the_current_model_is_in_view_and_the_overflow_is_cued(app, models, width):
    on_dsprites = [
        m for m in models.values() if m["dataset"] == "dsprites" and m.get("metrics") and not m.get("ensemble")
    ]
    assert len(on_dsprites) >= 4
    page = app.page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{app.base_url}/#model=qlae-dsprites")  # any, then the one whose column is last
    # settled on it (not the previous test's table, nor a load still under way when the next link comes)
    page.wait_for_function("() => window.__latentAtlas?.modelId === 'qlae-dsprites' && window.__latentAtlas.idle")
    page.wait_for_selector("#metrics-compare thead th")
    last = page.evaluate("() => [...document.querySelectorAll('#metrics-compare thead th')].at(-1).textContent")
    model_id = last.split(" (top")[0]
    page.goto(f"{app.base_url}/#model={model_id}")
    # the model loads on first use (a flow's weights are tens of MB): allow a loaded machine a minute
    page.wait_for_function(
        f"() => window.__latentAtlas && window.__latentAtlas.modelId === '{model_id}'", timeout=60_000
    )
    page.wait_for_function("() => document.querySelector('#metrics-compare thead th.current')")
    page.wait_for_timeout(300)
    geometry = page.evaluate(
        "() => { const wrap = document.querySelector('#metrics-compare').parentElement;"
        " const th = wrap.querySelector('thead th.current'); const w = wrap.getBoundingClientRect(); const c = th.getBoundingClientRect();"
        " return {scroll: wrap.scrollWidth, box: wrap.clientWidth, left: c.left - w.left, right: c.right - w.left, scrollLeft: wrap.scrollLeft}; }"
    )
    assert geometry["scroll"] > geometry["box"], geometry  # the table is wider than its box ...
    assert geometry["scrollLeft"] > 0 and geometry["left"] >= 0 and geometry["right"] <= geometry["box"] + 1, (
        geometry
    )  # ... yet in view
    cue = page.locator(".table-cue")
    assert cue.is_visible() and "scroll it sideways" in cue.text_content() and model_id in cue.text_content()
