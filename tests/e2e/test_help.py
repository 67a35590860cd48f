"""In-context help: the family line from the server's summary, the slider legend for what the
model has, the server's inactive verdict as the badge, the API docs link, and each slider named
by its visible label."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def idle(page, model_id: str) -> None:
    page.wait_for_function(
        "(id) => { const h = window.__latentAtlas; return h && h.modelId === id && h.frames > 0 && h.idle; }",
        arg=model_id,
    )


@pytest.mark.parametrize("model_id", ["vae-dsprites", "qlae-dsprites"])
def test_family_line_legend_badges_and_accessible_names(app, models, model_id):
    model = models[model_id]
    page = app.page
    page.goto(f"{app.base_url}/#model={model_id}")
    idle(page, model_id)
    assert model["family"] in page.text_content("#family-line")
    assert page.is_visible("#legend-band") == model["capabilities"]["posterior"]
    inactive = model["dim_inactive"] or [False] * model["latent_dim"]
    for d in range(model["latent_dim"]):
        row = page.locator(f".slider-row[data-dim='{d}']")
        assert (row.locator(".dim-badge").count() == 1) == inactive[d], d
        # the slider's accessible name is its visible label (z<d>, and the factor where named)
        name = page.evaluate(
            "(d) => { const i = document.getElementById(`latent-${d}`); return i.labels[0].textContent; }", d
        )
        assert name.startswith(f"z{d}")
        assert page.get_attribute(f"#latent-{d}", "aria-label") is None
    assert page.is_visible("#legend-inactive") == any(inactive)
    assert page.get_attribute("a[href='/docs']", "href") == "/docs"
