"""The explorer page over a model a Python session serves with ``latentatlas.explore``: its sliders
decode through the session's own decoder."""

from __future__ import annotations

import pytest

from devtools import free_port
from explore_models import LATENT_DIM, linear_pair

pytestmark = pytest.mark.e2e


def test_a_slider_of_an_explored_model_decodes_through_the_sessions_decoder(browser):
    import latentatlas

    encoder, decoder = linear_pair()
    calls = []

    def counted_decoder(latents):
        calls.append(len(latents))
        return decoder(latents)

    handle = latentatlas.explore(encoder, counted_decoder, image_size=16, port=free_port(), block=False, name="mine")
    with handle:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(handle.url)
        idle = "() => { const h = window.__latentAtlas; return h && h.modelId === 'mine' && h.frames > 0 && h.idle; }"
        page.wait_for_function(idle)
        assert page.locator("#sliders input[type=range]").count() == LATENT_DIM
        frames, decoded = page.evaluate("() => window.__latentAtlas.frames"), len(calls)
        old = page.get_attribute("#decode-img", "src")
        page.locator("#sliders input[data-dim='0']").focus()
        page.keyboard.press("End")
        page.wait_for_function(f"() => window.__latentAtlas.frames > {frames}")
        page.wait_for_function(idle)
        assert page.get_attribute("#decode-img", "src") != old
        assert len(calls) > decoded  # the session's decoder drew the frame
        context.close()
    assert not errors, errors
