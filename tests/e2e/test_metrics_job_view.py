"""A metrics job seen from the explorer (the job served by request interception, so it is fast and
its progress is what the test says): the time left never climbs while a long stage reports nothing,
and after the job a button brings the shipped card's metrics back."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.e2e
MODEL = "qlae-dsprites"


def seconds_left(text: str) -> int | None:
    found = re.search(r"about (?:(\d+) min )?(\d+) s left", text)
    return None if not found else int(found.group(1) or 0) * 60 + int(found.group(2))


def test_time_left_counts_down_and_the_shipped_card_comes_back(app, models):
    shipped = models[MODEL]["metrics"]
    assert shipped, "the shipped card has metrics"
    job = {
        "job_id": "fake-job",
        "model_id": MODEL,
        "ensemble_id": None,
        "status": "running",
        "progress": 0.0,
        "stage": "encoding",
        "result": None,
        "error": None,
    }
    page = app.page
    page.route(
        f"**/api/models/{MODEL}/metrics",
        lambda route: route.fulfill(
            status=202,
            content_type="application/json",
            body=json.dumps({"job_id": "fake-job", "status": "running", "joined": False}),
        ),
    )
    page.route(
        "**/api/jobs/fake-job",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(job)),
    )
    page.goto(f"{app.base_url}/#model={MODEL}")
    page.wait_for_function(
        f"() => {{ const h = window.__latentAtlas; return h && h.modelId === '{MODEL}' && h.frames > 0 && h.idle; }}"
    )
    page.click("#metrics-button")
    page.wait_for_function("() => document.querySelector('#metrics-status').textContent.includes('Computing')")
    page.wait_for_timeout(1500)
    job.update(progress=0.4, stage="DCI (exact)")  # then a long stage that reports nothing
    page.wait_for_function("() => document.querySelector('#metrics-status').textContent.includes('DCI')")
    first = seconds_left(page.text_content("#metrics-status"))
    page.wait_for_timeout(2500)
    later = seconds_left(page.text_content("#metrics-status"))
    assert first is not None and (later is None or later < first), (first, later)

    job.update(status="done", progress=1.0, stage="done", result={**shipped, "seed": shipped["seed"] + 1000})
    page.wait_for_selector("#metrics-shipped-row:not([hidden])")
    assert page.is_visible("#metrics-shipped")
    page.click("#metrics-shipped")
    page.wait_for_selector("#metrics-shipped-row", state="hidden")
    # the status follows once the model (its dims named from the shipped metrics) is fetched again
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('shipped card')")
    assert page.is_hidden("#error")
