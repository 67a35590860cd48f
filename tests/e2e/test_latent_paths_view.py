"""The explorer's latent paths, on a desktop and at 390 px (a phone): the interpolation strip
between two dataset images (and its GIF), the principal directions as extra sliders that move
the decode (over +-3 sd, or wider), and the "use via API" panel's curl and Python for what is
on screen."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

MODEL = "vae-dsprites"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1440, "height": 1000}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


@pytest.fixture(params=list(VIEWPORTS))
def page(request, browser, server):
    context = browser.new_context(**VIEWPORTS[request.param], accept_downloads=True)
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/#model={MODEL}")
    idle(page)
    yield page
    context.close()
    assert not errors, errors


def idle(page) -> None:
    page.wait_for_function(
        "(id) => { const h = window.__latentAtlas; return h && h.modelId === id && h.frames > 0 && h.idle; }", arg=MODEL
    )


def no_sideways_scroll(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths[0]} px of content in {widths[1]} px"


def test_the_interpolation_strip_appears_and_its_gif_downloads(page):
    page.locator("#interpolation-panel").scroll_into_view_if_needed()
    page.fill("#interpolation-from", "3")
    page.fill("#interpolation-to", "500")
    page.fill("#interpolation-steps", "5")
    page.click("#interpolation-button")
    page.wait_for_function("() => document.querySelectorAll('#interpolation-strip img').length === 5")
    idle(page)
    loaded = page.eval_on_selector_all(
        "#interpolation-strip img", "imgs => imgs.map(i => i.complete && i.naturalWidth)"
    )
    assert all(width == 64 for width in loaded), loaded
    assert page.get_attribute("#interpolation-strip img >> nth=4", "alt") == "step 5 of 5"
    assert "5 frames" in page.text_content("#interpolation-note")
    no_sideways_scroll(page)
    with page.expect_download() as download:
        page.click("#interpolation-gif")
    assert download.value.suggested_filename == f"{MODEL}-interpolation.gif"
    with open(download.value.path(), "rb") as gif:
        assert gif.read(6) == b"GIF89a"


def test_interpolation_names_a_missing_end(page):
    page.fill("#interpolation-to", "")
    page.click("#interpolation-button")
    page.wait_for_selector("#error:not([hidden])")
    assert '"to"' in page.text_content("#error-text")


def test_direction_sliders_move_the_decode_along_a_principal_direction(page, server):
    page.locator("#directions-panel").scroll_into_view_if_needed()
    page.click("#directions-button")
    page.wait_for_function("() => document.querySelectorAll('#directions-sliders input[type=range]').length === 8")
    idle(page)
    assert page.text_content("#directions-sliders .dim-name").startswith("PC1 · ")
    before = np.asarray(page.evaluate("() => window.__latentAtlas.latent"))
    frames = page.evaluate("() => window.__latentAtlas.frames")
    image = page.get_attribute("#decode-img", "src")
    page.locator("#direction-0").focus()
    page.keyboard.press("End")  # +3 sd along the first direction
    page.wait_for_function(f"() => window.__latentAtlas.frames > {frames}")
    idle(page)
    assert page.get_attribute("#decode-img", "src") != image
    first = server.json(f"/api/models/{MODEL}/directions?count=8")["directions"][0]
    after = np.asarray(page.evaluate("() => window.__latentAtlas.latent"))
    np.testing.assert_allclose(after - before, 3 * first["sd"] * np.asarray(first["vector"]), atol=1e-4)
    # the wider range lets the same slider go to +10 sd
    page.check("#directions-wide")
    assert page.get_attribute("#direction-0", "max") == "10"
    frames = page.evaluate("() => window.__latentAtlas.frames")
    page.locator("#direction-0").focus()
    page.keyboard.press("End")
    page.wait_for_function(f"() => window.__latentAtlas.frames > {frames}")
    idle(page)
    wider = np.asarray(page.evaluate("() => window.__latentAtlas.latent"))
    np.testing.assert_allclose(wider - before, 10 * first["sd"] * np.asarray(first["vector"]), atol=1e-4)
    no_sideways_scroll(page)


def test_the_api_panel_shows_the_requests_for_what_is_on_screen(page, server):
    page.locator("#api-panel").scroll_into_view_if_needed()
    curl = page.text_content("#api-curl")
    assert curl.startswith(f"curl -X POST '{server.url}/api/models/{MODEL}/decode'")
    body = json.loads(curl.split("-d '", 1)[1].split("'", 1)[0])
    np.testing.assert_allclose(body["latent"], page.evaluate("() => window.__latentAtlas.latent"), rtol=1e-5)
    assert "requests.post(" in page.text_content("#api-python")
    page.select_option("#api-what", "encode")
    assert '"dataset_index": ' in page.text_content("#api-curl")
    assert f"/api/models/{MODEL}/encode" in page.text_content("#api-python")
    no_sideways_scroll(page)


def test_the_python_snippet_runs_and_decodes_the_latent_on_screen(browser, server, tmp_path):
    pytest.importorskip("requests")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server.url}/#model={MODEL}")
    idle(page)
    snippet = page.text_content("#api-python")
    page.close()
    subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, check=True, timeout=60)
    with Image.open(tmp_path / "decode.png") as decoded:
        assert decoded.format == "PNG" and decoded.size == (64, 64)


def test_an_uploaded_end_interpolates_from_the_current_image(page, tmp_path):
    upload = tmp_path / "square.png"
    picture = np.zeros((64, 64), np.uint8)
    picture[20:44, 20:44] = 255
    Image.fromarray(picture).save(upload)
    page.locator("#interpolation-panel").scroll_into_view_if_needed()
    assert page.input_value("#interpolation-from").isdigit()  # "from" follows the current image: a dataset sample
    page.set_input_files("#interpolation-to-file", str(upload))
    assert (
        page.text_content("#interpolation-to-name") == "upload: square.png"
        and page.input_value("#interpolation-to") == ""
    )
    page.fill("#interpolation-steps", "4")
    page.click("#interpolation-button")
    page.wait_for_function("() => document.querySelectorAll('#interpolation-strip img').length === 4")
    idle(page)


def test_interpolation_and_directions_screenshot(app, screenshot_path):
    """docs/interpolation.png and docs/directions.png (``make screenshot``): qlae-shapes3d's strip between two
    dataset scenes and its first direction moved to +2 sd."""
    page = app.page
    page.goto(f"{app.base_url}/#model=qlae-shapes3d")
    page.wait_for_function("() => { const h = window.__latentAtlas; return h && h.frames > 0 && h.idle; }")
    page.fill("#interpolation-from", "1234")
    page.fill("#interpolation-to", "300000")
    page.click("#interpolation-button")
    page.click("#directions-button")
    page.wait_for_function("() => document.querySelectorAll('#interpolation-strip img').length === 8")
    page.wait_for_selector("#direction-0")
    page.locator("#direction-0").fill("2")
    page.wait_for_function("() => window.__latentAtlas.idle")
    for name in ("interpolation", "directions"):
        path = screenshot_path(f"{name}.png")
        page.locator(f"#{name}-panel").screenshot(path=path)
        assert path.stat().st_size > 5_000
