"""Side by side: the same input through 2-4 models of one dataset: each one's reconstruction (the
server's, with its PSNR), latent and traversal grid, their card metrics in one table and a
training curve of each overlaid; the view in the link."""

from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

PICKED = ["qlae-dsprites-3k", "vae-dsprites", "ae-dsprites"]


def server_encode(base_url: str, model_id: str, index: int) -> dict:
    request = urllib.request.Request(
        f"{base_url}/api/models/{model_id}/encode",
        data=json.dumps({"dataset_index": index}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def test_the_same_input_through_each_model(app, models, screenshot_path):
    page = app.page
    page.goto(f"{app.base_url}/compare.html#dataset=dsprites&models={','.join(PICKED)}&src=ds:1234")
    page.wait_for_function(
        "(n) => document.querySelectorAll('.compare-column').length === n && window.__latentAtlas.idle", arg=len(PICKED)
    )
    columns = page.locator(".compare-column")
    for k, model_id in enumerate(PICKED):
        column = columns.nth(k)
        assert column.get_attribute("data-model") == model_id
        reply = server_encode(app.base_url, model_id, 1234)
        assert column.locator(".compare-recon").get_attribute("src") == reply["reconstruction"]
        assert f"PSNR {reply['psnr_db']:.1f} dB" in column.locator(".compare-psnr").text_content()
        assert column.locator(".compare-latent li").count() == models[model_id]["latent_dim"]
        size = models[model_id]["image_size"]
        width, height = column.locator(".compare-grid").evaluate("i => [i.naturalWidth, i.naturalHeight]")
        assert height == models[model_id]["latent_dim"] * size and width % size == 0
    headers = page.evaluate(
        "() => [...document.querySelectorAll('#compare-metrics thead th')].map((t) => t.textContent)"
    )
    assert headers == ["score", *PICKED]
    traces = page.evaluate("() => document.querySelector('#compare-curves').data.map((t) => t.name)")
    assert traces == PICKED
    assert page.input_value("#curve-select") == "recon"
    page.set_viewport_size({"width": 1440, "height": 1300})
    page.screenshot(path=screenshot_path("side-by-side.png"), full_page=False)

    # fewer models, and no more than four
    page.uncheck(f"#compare-models input[value='{PICKED[-1]}']")
    page.wait_for_function(
        "() => document.querySelectorAll('.compare-column').length === 2 && window.__latentAtlas.idle"
    )
    assert "models=qlae-dsprites-3k,vae-dsprites" in page.url and "src=ds:1234" in page.url
    others = [
        m
        for m in page.evaluate("() => [...document.querySelectorAll('#compare-models input')].map((i) => i.value)")
        if m not in PICKED[:2]
    ]
    for model_id in others[:2]:
        page.check(f"#compare-models input[value='{model_id}']")
    assert len(page.evaluate("() => window.__latentAtlas.picked")) == 4
    if len(others) >= 3:  # a fifth is refused, with the reason
        page.click(f"#compare-models input[value='{others[2]}']")
        assert not page.is_checked(f"#compare-models input[value='{others[2]}']")
        assert "at most 4" in page.text_content("#error-text")
        assert len(page.evaluate("() => window.__latentAtlas.picked")) == 4
    assert app.console_errors == [], app.console_errors


def wait_columns(page, n: int) -> None:
    page.wait_for_function(
        "(n) => document.querySelectorAll('.compare-column').length === n && window.__latentAtlas.idle", arg=n
    )


def test_input_shown_rows_labelled_and_negative_losses_drawn(app, models):
    picked = ["eoflow-dsprites", "eoflow-dsprites-nomtc"]
    page = app.page
    page.goto(f"{app.base_url}/compare.html#dataset=dsprites&models={','.join(picked)}&src=ds:77")
    wait_columns(page, 2)
    # the input every model encodes is on the page
    assert page.get_attribute("#compare-input-img", "src") == server_encode(app.base_url, picked[0], 77)["input"]
    assert page.is_visible("#compare-input-img")
    # each traversal row is labelled with its dim
    labels = page.locator(".compare-column").first.locator(".compare-grid-labels span").all_text_contents()
    first = page.locator(".compare-column").first.locator(".compare-latent li:not(.muted)").count()
    assert len(labels) == first and labels[0].startswith("z0")
    # a flow's loss is negative: the auto axis is linear and shows it; log says what it leaves out
    page.select_option("#curve-select", "loss")
    figure = page.evaluate(
        "() => { const f = document.querySelector('#compare-curves'); return {type: f.layout.yaxis.type, ys: f.data.map((t) => t.y)}; }"
    )
    assert figure["type"] == "linear"
    assert min(v for ys in figure["ys"] for v in ys if v is not None) < 0
    page.select_option("#compare-scale", "log")
    page.wait_for_function("() => document.querySelector('#compare-curves').layout.yaxis.type === 'log'")
    assert "cannot be drawn on a log axis" in page.text_content("#compare-curve-note")


def test_no_shared_curve_is_said_and_default_picks_differ_in_kind(app, models):
    page = app.page
    picked = ["eoflow-dsprites", "qlinfogan-dsprites"]
    page.goto(f"{app.base_url}/compare.html#dataset=dsprites&models={','.join(picked)}&src=ds:5")
    wait_columns(page, 2)
    assert "No training curve is recorded by every picked model" in page.text_content("#compare-curves")
    assert page.is_disabled("#curve-select")
    page.goto(f"{app.base_url}/compare.html#dataset=dsprites")
    page.reload()
    page.wait_for_function("() => window.__latentAtlas.picked.length >= 2 && window.__latentAtlas.idle")
    chosen = page.evaluate("() => window.__latentAtlas.picked")
    kinds = [models[m]["kind"] for m in chosen]
    assert len(set(kinds)) == len(kinds) == 3, chosen
