"""Values the server owns reach the app from the server: "Name dims" on a model without metrics
asks GET /dim-factors once (no encodes from the browser), and the upload limit comes from GET
/api/config (the page refuses a file over it before sending anything)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e
MODEL = "ae-dsprites"


def _without_metrics(route):
    """The model's description as if its card had no metrics (so nothing names its dims yet)."""
    detail = route.fetch().json()
    detail.update(metrics=None, dim_names=None)
    route.fulfill(status=200, content_type="application/json", body=json.dumps(detail))


def test_name_dims_asks_the_server_once(app, models, server):
    expected = server.json(f"/api/models/{MODEL}/dim-factors")
    assert len(expected["names"]) == models[MODEL]["latent_dim"] and any(expected["names"])
    page = app.page
    page.route(f"**/api/models/{MODEL}", _without_metrics)
    page.goto(f"{app.base_url}/#model={MODEL}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{MODEL}' && h.frames > 0 && h.idle; }}"
    )
    assert page.is_visible("#factors-button")
    assert not [t for t in page.locator("#sliders .dim-factor").all_text_contents() if t]
    encodes = sum("/encode" in url for url in app.requests)
    page.click("#factors-button")
    page.wait_for_function("() => !document.querySelector('#factors-button').disabled && window.__latentAtlas.idle")
    shown = page.locator("#sliders .dim-factor").all_text_contents()
    assert shown == [name or "" for name in expected["names"]]
    assert sum("/dim-factors" in url for url in app.requests) == 1
    assert sum("/encode" in url for url in app.requests) == encodes  # the browser encoded nothing for it
    assert page.is_hidden("#error")


def test_upload_limit_comes_from_the_server(app, tmp_path):
    page = app.page

    def small_limit(route):
        config = route.fetch().json()
        config["max_upload_bytes"] = 2048
        route.fulfill(status=200, content_type="application/json", body=json.dumps(config))

    page.route("**/api/config", small_limit)
    page.goto(f"{app.base_url}/#model={MODEL}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{MODEL}' && h.frames > 0 && h.idle; }}"
    )
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4096))
    encodes = sum("/encode" in url for url in app.requests)
    page.set_input_files("#file-input", str(big))
    page.wait_for_selector("#error:not([hidden])")
    assert "big.png" in page.text_content("#error-text") and "limit" in page.text_content("#error-text")
    assert sum("/encode" in url for url in app.requests) == encodes
    assert sum("/api/config" in url for url in app.requests) == 1


MEMBER = "betavae-dsprites.beta1-seed2"  # an ensemble member: no card metrics, some dims inactive


def test_name_dims_never_names_an_inactive_dim_and_counts_the_active_ones(app, models):
    model = models[MEMBER]
    inactive = model["dim_inactive"]
    assert not model.get("metrics") and any(inactive) and not all(inactive)
    page = app.page
    page.goto(f"{app.base_url}/#model={MEMBER}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{MEMBER}' && h.frames > 0 && h.idle; }}"
    )
    page.click("#factors-button")
    page.wait_for_function("() => !document.querySelector('#factors-button').disabled && window.__latentAtlas.idle")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('interventions')")
    for d, off in enumerate(inactive):
        if off:
            assert page.text_content(f"#sliders .slider-row[data-dim='{d}'] .dim-factor") == ""
    status = page.text_content("#status")
    active = inactive.count(False)
    assert f"/{active} active dims follow one factor" in status, status
    assert f"{len(inactive) - active} inactive, never named" in status
