"""KL per latent dimension over training in the card panel, at desktop width and at 390 px: a
freshly trained tiny VAE (its trainer logs ``kl_dim_<d>``) shows one curve per dimension; a
shipped VAE whose card predates the curves says they were not recorded; a model without a
Gaussian posterior (a QLAE) shows no such section."""

from __future__ import annotations

import pytest

from devtools import LocalServer
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import model_config
from latentatlas.nets import NetConfig
from latentatlas.train import TrainConfig, train

pytestmark = pytest.mark.e2e

LATENT_DIM = 5
VIEWPORTS = {"desktop": {"width": 1440, "height": 1000}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def tiny_vae_server(chromium_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("kl-dims")
    run = TrainConfig(steps=8, batch_size=8, threads=1, device="cpu", log_every=2, checkpoint_every=8, seed=0)
    net = NetConfig(image_size=32, channels=1, widths=(8, 8, 8), hidden=32)
    config = model_config(kind="vae", latent_dim=LATENT_DIM, net=net)
    train(config, DatasetSpec(name="dsprites", image_size=32), run, root / "models" / "vae-tiny", progress=False)
    with LocalServer(root / "models", root / "server.log") as server:
        yield server


def open_page(browser, url: str, viewport: str):
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone")
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return context, page, errors


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_vae_that_logged_kl_per_dim_shows_one_curve_per_dim(browser, tiny_vae_server, viewport):
    context, page, errors = open_page(browser, f"{tiny_vae_server.url}/#model=vae-tiny", viewport)
    page.wait_for_function("() => document.querySelector('#kl-dims-plot')?.data?.length > 0")
    traces = page.evaluate("() => document.querySelector('#kl-dims-plot').data.map(t => [t.name, t.x.length])")
    assert traces == [[f"z{d}", 4] for d in range(LATENT_DIM)]  # 8 steps logged every 2
    assert f"of {LATENT_DIM} dimensions" in page.text_content("#kl-dims-note")
    legend = page.evaluate("() => document.querySelector('#loss-plot').data.map(t => t.name)")
    assert "kl" in legend and not any(name.startswith("kl_dim_") for name in legend)  # not in the loss plot
    box = page.locator("#kl-dims-plot").bounding_box()
    assert box["width"] <= VIEWPORTS[viewport]["width"] and box["height"] > 100
    context.close()
    assert not errors, errors


def test_shipped_cards_without_the_curves_say_so_and_other_families_hide_it(browser, server, models):
    for model_id, expected in (("vae-dsprites", "not recorded for this model"), ("qlae-dsprites", None)):
        if model_id not in models:
            pytest.skip(f"{model_id} is not served")
        context, page, errors = open_page(browser, f"{server.url}/#model={model_id}", "desktop")
        page.wait_for_function("(id) => window.__latentAtlas?.modelId === id", arg=model_id)
        page.wait_for_selector("#kl-dims", state="attached")
        if expected is None:
            assert page.is_hidden("#kl-dims")
        else:
            page.wait_for_function("() => document.querySelector('#kl-dims-note').textContent.length > 0")
            assert expected in page.text_content("#kl-dims-note") and page.is_hidden("#kl-dims-plot")
        context.close()
        assert not errors, errors
