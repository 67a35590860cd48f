"""The app's scores, groups, descriptions and labels are the server's metric catalogue
(GET /api/metric-catalogue), not a list of its own."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_the_metrics_panel_reads_the_catalogue(app, models):
    page = app.page
    model_id = next(m for m in models if models[m]["metrics"])
    page.goto(f"{app.base_url}/#model={model_id}")
    page.wait_for_selector("#metrics-bars svg.main-svg")
    catalogue = page.evaluate("() => fetch('/api/metric-catalogue').then((r) => r.json())")
    module = page.evaluate("""async () => { const m = await import('/src/panels/metrics.js');
        return { scores: m.SCORES.map(([label, , group, about, key]) => [label, group, about, key]), labels: m.LABELS }; }""")
    shown = [
        [s["label"], m["group"], s["description"], s["key"]]
        for m in catalogue["metrics"]
        for s in m["scores"]
        if s["shown"]
    ]
    assert module["scores"] == shown and len(shown) >= 13
    assert module["labels"] == {s["key"]: s["label"] for m in catalogue["metrics"] for s in m["scores"]}
    bars = page.evaluate("() => document.querySelector('#metrics-bars').data[0].y")
    assert bars and set(bars) <= {label for label, *_ in shown}
