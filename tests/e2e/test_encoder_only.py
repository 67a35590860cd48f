"""Browser test of a model without a decoder: the shipped beta-VAE's encoder alone, imported as
ONNX into a models folder of its own. The explorer shows the nearest dataset images in place of
a decode, draws the traversal by retrieval, says why the decoder's parts are absent, and a slider
moves the neighbours (all from the model's declared capabilities). With a probe decoder, the slider
moves its image, labelled everywhere as not the model's own."""

from __future__ import annotations

import pytest

from conftest import PageRecorder
from devtools import LocalServer
from import_helpers import export_vae
from latentatlas.data.spec import DatasetSpec
from latentatlas.imports import import_onnx
from latentatlas.store.folders import load_model_folder
from latentatlas.store.probe_decoder import save_probe_decoder
from latentatlas.train.probe_decoder import train_probe_decoder

pytestmark = pytest.mark.e2e

MODEL, PROBED = "vae-encoder-only", "vae-probed"


@pytest.fixture(scope="module")
def encoder_only_server(chromium_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("encoder-only")
    encoder, _ = export_vae(root / "graphs")
    for name in (MODEL, PROBED):
        import_onnx(encoder, None, DatasetSpec(name="dsprites"), root / "models" / name, latent_output="mu")
    probe, section = train_probe_decoder(load_model_folder(root / "models" / PROBED), steps=20)
    save_probe_decoder(root / "models" / PROBED, probe, section)
    with LocalServer(root / "models", root / "server.log") as server:
        yield server


@pytest.fixture
def page(browser, encoder_only_server):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(30_000)
    recorder = PageRecorder(page=context.new_page(), base_url=encoder_only_server.url)
    recorder.page.on("console", lambda msg: recorder.console_errors.append(msg.text) if msg.type == "error" else None)
    recorder.page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
    yield recorder
    context.close()
    assert not recorder.page_errors, recorder.page_errors


def _wait_idle(page, model: str = MODEL) -> None:
    page.wait_for_function(f"() => window.__latentAtlas?.modelId === '{model}' && window.__latentAtlas.idle")


def _neighbours(page) -> list[str]:
    return page.locator("#nearest-list .thumb").evaluate_all("buttons => buttons.map((b) => b.title)")


def test_an_encoder_only_model_shows_its_nearest_images_and_a_slider_moves_them(page):
    tab = page.page
    tab.goto(f"{page.base_url}/#model={MODEL}")
    tab.wait_for_function("() => document.querySelectorAll('#nearest-list .thumb img').length === 8")
    _wait_idle(tab)

    # The nearest dataset images stand in for the decode; the decoder's parts say why they are absent.
    assert tab.is_visible("#nearest-list")
    assert "no decoder" in tab.inner_text("#nearest-note")
    assert tab.is_hidden("#decode-img") and tab.is_hidden("#reconstruction-img")
    assert "capabilities.decode is false" in tab.inner_text("#decoder-absent")
    assert "retrieval" in tab.inner_text("#traversal-absent")
    assert tab.is_hidden("#probe-img")
    assert tab.is_disabled("#export-traversal-png")

    # The traversal is drawn by retrieval: one row of 64-pixel dataset images per dim.
    rows = tab.locator("#traversal-labels .grid-label").count()
    tab.wait_for_function(f"() => document.querySelector('#traversal-img').naturalHeight === {rows * 64}")
    assert rows == 10

    # Moving a slider to its other end moves the latent and the neighbours.
    before, z = _neighbours(tab), tab.evaluate("() => window.__latentAtlas.latent")
    slider = tab.locator("#sliders input[data-dim='0']")
    slider.focus()
    tab.keyboard.press("End" if z[0] <= float(slider.get_attribute("min")) + 1e-9 else "Home")
    tab.wait_for_function("(old) => window.__latentAtlas.latent[0] !== old", arg=z[0])
    tab.wait_for_function(
        "(old) => [...document.querySelectorAll('#nearest-list .thumb')].map((b) => b.title).join('|') !== old",
        arg="|".join(before),
    )
    _wait_idle(tab)

    # A neighbour loads as the image: encoded (no reconstruction), it becomes the latent.
    first = tab.locator("#nearest-list .thumb").first
    index = first.get_attribute("title").split("sample ")[1].split(",")[0]
    first.click()
    tab.wait_for_function(
        "(i) => document.querySelector('#original-caption').textContent.includes(`sample ${i}`)", arg=index
    )
    _wait_idle(tab)
    assert tab.is_hidden("#error")
    assert page.console_errors == [], page.console_errors


def test_a_probe_decoder_renders_the_latent_under_its_label(page):
    tab = page.page
    tab.goto(f"{page.base_url}/#model={PROBED}")
    tab.wait_for_function("() => document.querySelector('#probe-img').naturalWidth === 64")
    _wait_idle(tab, PROBED)
    label = tab.inner_text("#probe-label")
    assert label.startswith("probe decoder, held-out PSNR ")
    assert label.endswith("not the model's own")
    assert "probe decoder" in tab.inner_text("#traversal-absent")
    assert tab.is_hidden("#decode-img")
    assert tab.is_visible("#nearest-list")
    rows = tab.locator("#traversal-labels .grid-label").count()
    tab.wait_for_function(f"() => document.querySelector('#traversal-img').naturalHeight === {rows * 64}")

    old, z = tab.get_attribute("#probe-img", "src"), tab.evaluate("() => window.__latentAtlas.latent")
    slider = tab.locator("#sliders input[data-dim='1']")
    slider.focus()
    tab.keyboard.press("End" if z[1] <= float(slider.get_attribute("min")) + 1e-9 else "Home")
    tab.wait_for_function("(old) => document.querySelector('#probe-img').src !== old", arg=old)
    _wait_idle(tab, PROBED)
    assert tab.is_hidden("#error")
    assert page.console_errors == [], page.console_errors
