"""Curve overlays, at desktop width and at 390 px: the zoo section overlays one variant's seeds
(GET /api/zoo/curves) and the ensemble page one beta's members (/api/ensembles/{id}/curves), each
smoothed by the stated EMA (the raw curves faint behind) on an auto / log / linear axis."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": {"width": 1440, "height": 1000}, "phone": {"width": 390, "height": 844}}
MODEL = "vae-dsprites"


def ema(values, alpha):
    out, state = [], None
    for v in values:
        if v is None:
            out.append(None)
            continue
        state = v if state is None else alpha * state + (1 - alpha) * v
        out.append(state)
    return out


@pytest.fixture
def open_page(browser):
    contexts, errors = [], []

    def open_at(url: str, viewport: str):
        context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone")
        context.set_default_timeout(60_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        return page

    yield open_at
    for context in contexts:
        context.close()
    assert not errors, errors


def traces(page, plot: str) -> list[dict]:
    return page.evaluate(f"() => document.querySelector('{plot}').data.map(t => ({{name: t.name, y: t.y}}))")


def check_overlay(page, prefix: str, members: list[dict]) -> None:
    """The overlay's smoothed traces are the members' EMA at the slider's alpha; 0 leaves the raw curves."""
    plot = f"#{prefix}-plot"
    page.wait_for_function(f"() => document.querySelector('{plot}').data?.length > 0")
    curve = page.input_value(f"#{prefix}-curve")
    alpha = float(page.input_value(f"#{prefix}-smooth"))
    shown = [t for t in traces(page, plot) if not t["name"].endswith("(raw)")]
    assert len(shown) == len(members) and len(traces(page, plot)) == 2 * len(members)
    for member, trace in zip(members, shown, strict=True):
        expected = ema(member["curves"][curve], alpha)
        assert trace["y"] == pytest.approx(expected, rel=1e-6)  # positive values: the same on either axis
    assert f"{alpha:.2f}" in page.text_content(f"#{prefix}-note") and "moving average" in page.text_content(
        f"#{prefix}-note"
    )
    page.fill(f"#{prefix}-smooth", "0")
    page.wait_for_function(f"() => document.querySelector('{plot}').data.length === {len(members)}")
    assert "unsmoothed" in page.text_content(f"#{prefix}-note")
    page.select_option(f"#{prefix}-scale", "linear")
    page.wait_for_function(f"() => document.querySelector('{plot}').layout.yaxis.type === 'linear'")
    page.select_option(f"#{prefix}-scale", "log")
    page.wait_for_function(f"() => document.querySelector('{plot}').layout.yaxis.type === 'log'")
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_zoo_section_overlays_a_variants_seeds(open_page, server, models, viewport):
    if MODEL not in models:
        pytest.skip(f"{MODEL} is not served")
    data = server.json("/api/zoo/curves?dataset=dsprites")
    page = open_page(f"{server.url}/#model={MODEL}", viewport)
    page.wait_for_function("() => !document.querySelector('#zoo-section').hidden")
    page.wait_for_function("() => document.querySelector('#zoo-curves-group').options.length > 0")
    group = page.input_value("#zoo-curves-group")
    assert group.split("-")[0] == "vae"  # the variants of the model's own kind first
    check_overlay(page, "zoo-curves", [m for m in data["members"] if m["group"] == group])


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_ensemble_page_overlays_one_betas_members(open_page, server, viewport):
    ensembles = server.json("/api/ensembles")["ensembles"]
    if not ensembles:
        pytest.skip("no ensemble is served")
    ensemble = ensembles[0]["id"]
    data = server.json(f"/api/ensembles/{ensemble}/curves")
    page = open_page(f"{server.url}/ensembles.html#ensemble={ensemble}", viewport)
    page.wait_for_function("() => document.querySelector('#ensemble-curves-group').options.length > 0")
    group = page.input_value("#ensemble-curves-group")
    check_overlay(page, "ensemble-curves", [m for m in data["members"] if m["group"] == group])
