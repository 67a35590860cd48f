"""Browser test of the shipped contrastive showcases (BYOL, SimSiam, Barlow Twins on dSprites and
Shapes3D; models/<family>-<dataset>): listed as encoders without a decoder, with retrieval and a
probe decoder; one opened in the explorer shows its nearest dataset images, and a slider moves
both the neighbours and the probe decoder's image, which is labelled as not the model's own."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SHOWCASES = tuple(
    f"{family}-{dataset}" for family in ("byol", "simsiam", "barlow") for dataset in ("dsprites", "shapes3d")
)


def test_the_showcases_are_served_as_encoders_with_retrieval_and_a_probe_decoder(models):
    for name in SHOWCASES:
        capabilities = models[name]["capabilities"]
        assert capabilities["encode"] and capabilities["retrieval"] and capabilities["probe_decoder"], name
        assert not capabilities["decode"], name


def _neighbours(tab) -> str:
    return tab.locator("#nearest-list .thumb").evaluate_all("buttons => buttons.map((b) => b.title).join('|')")


def _wait_idle(tab, model: str) -> None:
    tab.wait_for_function(f"() => window.__latentAtlas?.modelId === '{model}' && window.__latentAtlas.idle")


@pytest.mark.parametrize("model", ["byol-dsprites", "simsiam-shapes3d"])
def test_a_showcase_shows_its_neighbours_and_a_slider_moves_them_and_the_probe_decode(app, model):
    tab = app.page
    tab.goto(f"{app.base_url}/#model={model}")
    tab.wait_for_function("() => document.querySelectorAll('#nearest-list .thumb img').length === 8")
    tab.wait_for_function("() => document.querySelector('#probe-img').naturalWidth > 0")
    _wait_idle(tab, model)
    assert "no decoder" in tab.inner_text("#nearest-note")
    assert tab.is_hidden("#decode-img")
    label = tab.inner_text("#probe-label")
    assert label.startswith("probe decoder, held-out PSNR ") and label.endswith("not the model's own")

    # The slider of the latent's most variable dimension, moved to its other end.
    before, probe, z = (
        _neighbours(tab),
        tab.get_attribute("#probe-img", "src"),
        tab.evaluate("() => window.__latentAtlas.latent"),
    )
    slider = tab.locator("#sliders input[data-dim]").first
    dim = int(slider.get_attribute("data-dim"))
    slider.focus()
    tab.keyboard.press("End" if z[dim] <= float(slider.get_attribute("min")) + 1e-9 else "Home")
    tab.wait_for_function(f"(old) => window.__latentAtlas.latent[{dim}] !== old", arg=z[dim])
    tab.wait_for_function("(old) => document.querySelector('#probe-img').src !== old", arg=probe)
    tab.wait_for_function(
        "(old) => [...document.querySelectorAll('#nearest-list .thumb')].map((b) => b.title).join('|') !== old",
        arg=before,
    )
    _wait_idle(tab, model)
    assert tab.is_hidden("#error"), tab.inner_text("#error")
    assert app.console_errors == [], app.console_errors
