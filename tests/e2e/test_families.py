"""Browser tests of the families added through the plug-in API, St-RKM and QLInfoWGAN-GP, on
their shipped models: the generic explorer drives them from their declared capabilities alone
(no family-specific frontend code). Sliders move the decode, the traversal renders, the prior
can be sampled, the metrics panel and comparison include them, and nothing errs."""

from __future__ import annotations

import pytest
from test_app import latent, load_sample, natural_size, open_app, select_model, src, wait_idle, wait_src_change

pytestmark = pytest.mark.e2e

NEW_FAMILIES = {"strkm-dsprites": "strkm", "qlinfogan-dsprites": "qlinfogan"}


@pytest.mark.parametrize("model_id", sorted(NEW_FAMILIES))
def test_new_family_is_explorable(app, models, model_id):
    assert model_id in models, f"models/{model_id} is not served: train and ship it (see README)"
    model = models[model_id]
    assert model["kind"] == NEW_FAMILIES[model_id]
    caps = model["capabilities"]
    size, dims = model["image_size"], model["latent_dim"]
    page = open_app(app, f"#model={model_id}")
    select_model(page, model_id)

    # The picker groups it with the autoencoders and generators.
    group = page.eval_on_selector(f"#model-select option[value='{model_id}']", "o => o.parentElement.label")
    assert group == "Autoencoders and generators"

    # A dataset sample is encoded and reconstructed at the model's size.
    load_sample(page, model_id, size)
    z = latent(page)
    assert len(z) == dims
    if caps["codes"]:  # quantised latents: every value is one of its codebook's
        assert all(z[d] in model["codebooks"][d] for d in range(dims))
        assert page.locator("#sliders .slider-row[data-dim='0'] .tick").count() == len(model["codebooks"][0])

    # Moving a slider (keyboard: to its other end) changes the live decode.
    old, frames = src(page, "#decode-img"), page.evaluate("() => window.__latentAtlas.frames")
    slider = page.locator("#sliders input[data-dim='0']")
    slider.focus()
    page.keyboard.press("End" if z[0] <= float(slider.get_attribute("min")) + 1e-9 else "Home")
    page.wait_for_function(f"() => window.__latentAtlas.frames > {frames}")
    wait_idle(page, model_id)
    assert latent(page)[0] != z[0]
    assert src(page, "#decode-img") != old

    # The traversal grid: one row per dim at the model's tile size.
    page.wait_for_function(f"() => document.querySelector('#traversal-img').naturalHeight === {dims * size}")
    assert natural_size(page, "#traversal-img")[1] == dims * size
    assert page.locator("#traversal-labels .grid-label > span").all_text_contents() == [f"z{d}" for d in range(dims)]

    # Sampling the prior (the capability shows the button) sets a new latent and decode.
    assert caps["sample"] and page.is_visible("#prior-button")
    old, before = src(page, "#decode-img"), latent(page)
    page.click("#prior-button")
    page.wait_for_function("(z) => window.__latentAtlas.latent.some((v, i) => v !== z[i])", arg=before)
    wait_src_change(page, "#decode-img", old)
    if caps["codes"]:
        assert all(v in model["codebooks"][d] for d, v in enumerate(latent(page)))

    # Its metrics render and it joins the comparison of the dataset's models.
    assert model["metrics"], f"run `latentatlas evaluate models/{model_id}`"
    page.wait_for_selector("#metrics-bars svg.main-svg")
    header = page.locator("#metrics-compare thead th").all_text_contents()
    assert model_id in header and "qlae-dsprites-3k" in header
    # Flow-only controls stay hidden.
    assert page.is_hidden("#flow-panel")
    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors
