"""Every view round-trips through its link: a flow's source, slider edits, C and noise; the
traversal steps; a view of an upload (the link says it cannot carry the image and keeps the
latent); a channel opened from the ensemble page; and the Copy link button."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e


def idle(page, model_id: str) -> None:
    page.wait_for_function(
        "(id) => { const h = window.__latentAtlas; return h && h.modelId === id && h.frames > 0 && h.idle; }",
        arg=model_id,
    )


def hash_params(page) -> dict:
    return page.evaluate("() => Object.fromEntries(new URLSearchParams(location.hash.slice(1)))")


def test_flow_view_round_trips(app, models):
    flow = next(m["id"] for m in models.values() if m["capabilities"]["ordered"] and m["ensemble"] is None)
    page = app.page
    page.goto(f"{app.base_url}/#model={flow}&src=ds:1234")
    idle(page, flow)
    assert "sample 1234" in page.text_content("#original-caption")  # the link's sample, not a random one
    # edit: C, sigma, a top slider
    page.evaluate(
        "() => { const k = document.querySelector('#flow-keep'); k.value = '40'; k.dispatchEvent(new Event('input')); k.dispatchEvent(new Event('change')); }"
    )
    page.evaluate(
        "() => { const s = document.querySelector('#flow-sigma'); s.value = '0.2'; s.dispatchEvent(new Event('input')); }"
    )
    page.locator("#sliders input[type=range]").first.focus()
    page.keyboard.press("ArrowRight")
    idle(page, flow)
    page.wait_for_function(
        "() => /c=\\d+/.test(location.hash) && location.hash.includes('sigma=0.2') && location.hash.includes('zt=')"
    )
    params = hash_params(page)
    assert params["src"] == "ds:1234" and "z" not in params
    keep = page.text_content("#flow-keep-value")
    top = page.evaluate("() => window.__latentAtlas.latent.slice(0, 16)")
    url = page.url

    other = page.context.new_page()
    other.goto(url)
    idle(other, flow)
    other.wait_for_function("() => document.querySelector('#flow-psnr').dataset.keep !== undefined")
    assert other.text_content("#flow-keep-value") == keep
    assert other.input_value("#flow-sigma") == "0.2"
    assert "sample 1234" in other.text_content("#original-caption")
    np.testing.assert_allclose(
        other.evaluate("() => window.__latentAtlas.latent.slice(0, 16)"), top, rtol=1e-6, atol=1e-6
    )
    assert hash_params(other) == params  # restoring did not rewrite the link
    other.close()


def test_steps_and_an_uploaded_image_round_trip(app, models, tmp_path):
    page = app.page
    page.goto(f"{app.base_url}/#model=vae-dsprites")
    idle(page, "vae-dsprites")
    page.select_option("#steps-select", "15")
    picture = tmp_path / "mine.png"
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8)).save(picture)
    page.set_input_files("#file-input", str(picture))
    page.wait_for_function("() => document.querySelector('#original-caption').textContent.includes('mine.png')")
    idle(page, "vae-dsprites")
    page.wait_for_function("() => location.hash.includes('src=upload') && location.hash.includes('steps=15')")
    z = page.evaluate("() => window.__latentAtlas.latent")
    other = page.context.new_page()
    other.goto(page.url)
    idle(other, "vae-dsprites")
    assert other.input_value("#steps-select") == "15"
    np.testing.assert_allclose(other.evaluate("() => window.__latentAtlas.latent"), z, rtol=1e-6, atol=1e-6)
    assert "uploaded image" in other.text_content("#error-text")  # said, not shown blank
    assert not other.get_attribute("#original-img", "src")
    other.close()


def test_copy_link_copies_the_view(app, models):
    page = app.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.base_url)
    page.goto(f"{app.base_url}/#model=qlae-dsprites")
    idle(page, "qlae-dsprites")
    page.click("#copy-link")
    page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Link copied')")
    assert page.evaluate("() => navigator.clipboard.readText()") == page.url
    assert "z=" in page.url and "src=ds:" in page.url


def test_a_channel_opened_from_the_ensemble_page_is_picked(app, models):
    member = next((m for m in models.values() if m["ensemble"]), None)
    if member is None:
        pytest.skip("no ensemble served")
    page = app.page
    page.goto(f"{app.base_url}/index.html#model={member['id']}&dim=3")
    idle(page, member["id"])
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'latent-3'")
    assert "picked" in page.locator(".slider-row").nth(3).get_attribute("class")
