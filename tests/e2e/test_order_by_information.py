"""Sliders and traversal rows ordered by each dim's information (the server's KL per dim for a
VAE), the server's inactive dims collapsed behind a toggle, and the order kept in the link."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_vae_dims_ordered_by_kl_with_inactive_ones_collapsed(app, models, server):
    model = models["vae-dsprites"]
    info = server.json("/api/models/vae-dsprites/dim-information")
    assert info["measure"] == "kl_nats"
    assert info["order"] == sorted(range(model["latent_dim"]), key=lambda d: -info["values"][d])
    inactive = {d for d, off in enumerate(model["dim_inactive"]) if off}
    page = app.page
    page.goto(f"{app.base_url}/#model=vae-dsprites")
    page.wait_for_function(
        "() => { const h = window.__latentAtlas; return h && h.modelId === 'vae-dsprites' && h.frames > 0 && h.idle; }"
    )
    assert page.is_visible("#order-label")
    page.check("#order-by-info")
    page.wait_for_function("() => location.hash.includes('order=info')")
    page.wait_for_function("() => window.__latentAtlas.idle")
    page.wait_for_timeout(500)
    page.wait_for_function("() => window.__latentAtlas.idle")
    visible = page.evaluate(
        "() => [...document.querySelectorAll('.slider-row')].filter((r) => !r.hidden).map((r) => Number(r.dataset.dim))"
    )
    expected = [d for d in info["order"] if d not in inactive]
    assert visible == expected
    note = page.text_content(f".slider-row[data-dim='{expected[0]}'] .dim-info")
    assert note == f"{info['values'][expected[0]]:.2f} nats"
    rows = page.evaluate(
        "() => [...document.querySelectorAll('#traversal-labels .grid-label span')].map((s) => s.textContent)"
    )
    assert rows == [f"z{d}" for d in expected]
    if inactive:
        page.click(".collapse-toggle")
        page.wait_for_function(
            "(n) => [...document.querySelectorAll('.slider-row')].filter((r) => !r.hidden).length === n",
            arg=model["latent_dim"],
        )
    # the order travels in the link
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_function("() => { const h = window.__latentAtlas; return h && h.frames > 0 && h.idle; }")
    assert other.is_checked("#order-by-info")
    other.close()
    # models without a posterior or codes have no such order
    page.select_option("#model-select", "ae-dsprites")
    page.wait_for_function("() => window.__latentAtlas.modelId === 'ae-dsprites'")
    assert not page.is_visible("#order-label")
