"""The flow panel's per-image PCA baselines, at desktop width and at 390 px: PCA's top-C
reconstruction beside the flow's top-C decode and PCA's denoising beside the flow's, each with
its PSNR, for the C on the slider; the figures fit the screen."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": {"width": 1440, "height": 1000}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_pca_baselines_beside_the_flows_decode_and_denoising(browser, server, models, viewport):
    flows = [m for m in models.values() if m["capabilities"]["ordered"]]
    if not flows:
        pytest.skip("no served model has ordered latents (LATENTATLAS_E2E_MODELS_DIR names a folder with one)")
    model = flows[0]
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone")
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/#model={model['id']}")
    page.wait_for_function("() => document.querySelector('#flow-pca-psnr').dataset.db !== undefined")
    page.wait_for_function("() => document.querySelector('#flow-pca-denoised-psnr').dataset.db !== undefined")

    keep = page.get_attribute("#flow-psnr", "data-keep")
    for image, caption in (("#flow-pca-decode", "#flow-pca-psnr"), ("#flow-pca-denoised", "#flow-pca-denoised-psnr")):
        assert page.eval_on_selector(image, "img => img.naturalWidth") == model["image_size"]
        assert page.is_visible(image)
        assert f"C={keep}" in page.text_content(caption) and "PCA fitted on" in page.get_attribute(caption, "title")
        box = page.locator(image).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORTS[viewport]["width"], box
    # the denoising baseline answers the denoising C (the same slider)
    assert f"C={keep}" in page.text_content("#flow-denoised-psnr")

    # the baseline follows C: keep every latent and PCA's reconstruction becomes (near) exact
    slider = page.locator("#flow-keep")
    slider.focus()
    page.keyboard.press("End")
    dim = model["latent_dim"]
    page.wait_for_function("(c) => document.querySelector('#flow-pca-psnr').textContent.includes(`C=${c}`)", arg=dim)
    assert float(page.get_attribute("#flow-pca-psnr", "data-db")) >= 40
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths
    context.close()
    assert not errors, errors
