"""The card's training curves: every curve drawn, negative ones too (a GAN's critic loss, a flow's
loss), on a y axis the reader picks (auto / log / linear), what a log axis leaves out said in words."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e
GAN = "qlinfogan-dsprites"


def open_model(app, model_id: str, width: int = 1280) -> object:
    page = app.page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{app.base_url}/#model={model_id}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{model_id}' && h.frames > 0 && h.idle; }}"
    )
    page.wait_for_selector("#loss-plot svg.main-svg")
    return page


def plotted(page) -> dict:
    return page.evaluate(
        "() => { const f = document.querySelector('#loss-plot');"
        " return {type: f.layout.yaxis.type, names: f.data.map((t) => t.name), ys: f.data.map((t) => t.y)}; }"
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_negative_losses_are_drawn_and_the_scale_is_the_readers(app, models, server, width):
    curves = server.json(f"/api/models/{GAN}")["curves"]
    negative = sorted(
        n for n, v in curves.items() if n not in ("step", "seconds") and any(x is not None and x <= 0 for x in v)
    )
    assert negative, "the GAN's card records a curve with values <= 0"
    page = open_model(app, GAN, width)
    figure = plotted(page)
    assert figure["type"] == "linear"  # auto: some values are <= 0
    for name in negative:  # no curve left out, no value of it dropped
        values = figure["ys"][figure["names"].index(name)]
        assert sum(v is not None for v in values) == sum(v is not None for v in curves[name])
    assert page.is_visible("#loss-scale")
    box = page.locator("#loss-scale").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.select_option("#loss-scale", "log")
    page.wait_for_function("() => document.querySelector('#loss-plot').layout.yaxis.type === 'log'")
    assert "cannot be drawn on a log axis" in page.text_content("#loss-note")
    page.select_option("#loss-scale", "linear")
    page.wait_for_function("() => document.querySelector('#loss-plot').layout.yaxis.type === 'linear'")
    assert app.console_errors == [], app.console_errors


def test_positive_curves_stay_on_a_log_axis_by_default(app):
    page = open_model(app, "qlae-dsprites")
    assert plotted(page)["type"] == "log"
    assert page.text_content("#loss-note") == ""
