"""Browser test of an ensemble of imported saved-latents runs (``ensemble import``, then analysed):
the ensemble page opens it, draws the channel similarity heatmap with the factor columns, shows
the runs by name (no beta) and says why the traversals of its channels are absent (the members
have no decoder, as the ensemble declares)."""

from __future__ import annotations

import shutil

import pytest

from conftest import REPO_ROOT, PageRecorder
from devtools import LocalServer
from ensemble_runs import FACTOR_NAMES, run_arrays, write_run
from latentatlas.evaluation.ensemble import analyze_ensemble
from latentatlas.imports import import_ensemble

pytestmark = pytest.mark.e2e

NAME, N = "imported-runs", 40
RUNS = {"a": 3, "b": 3, "c": 2}  # b is a copy of a


@pytest.fixture(scope="module")
def imported_server(chromium_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("imported-ensemble")
    a = write_run(root / "a.npz", run_arrays(0, N, RUNS["a"]))
    shutil.copy(a, root / "b.npz")
    c = write_run(root / "c.npz", run_arrays(2, N, RUNS["c"]))
    folder = root / "models" / "ensembles" / NAME
    import_ensemble([a, root / "b.npz", c], folder)
    analyze_ensemble(folder, progress=False, fusion_steps=200)
    shutil.copytree(REPO_ROOT / "models" / "ae-dsprites", root / "models" / "ae-dsprites")  # ready needs a model
    with LocalServer(root / "models", root / "server.log") as server:
        yield server


@pytest.fixture
def page(browser, imported_server):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(30_000)
    recorder = PageRecorder(page=context.new_page(), base_url=imported_server.url)
    recorder.page.on("console", lambda msg: recorder.console_errors.append(msg.text) if msg.type == "error" else None)
    recorder.page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
    yield recorder
    context.close()
    assert not recorder.page_errors, recorder.page_errors
    assert not recorder.console_errors, recorder.console_errors


def test_the_page_shows_imported_runs_and_says_why_traversals_are_absent(page, imported_server):
    sim = imported_server.json(f"/api/ensembles/{NAME}/similarity")
    hotspots = imported_server.json(f"/api/ensembles/{NAME}/hotspots")["hotspots"]
    tab = page.page
    tab.goto(f"{page.base_url}/ensembles.html#ensemble={NAME}&pair=0,3")
    tab.wait_for_function(
        "(id) => { const v = window.__ensembleView; return v && v.ensembleId === id && v.rows > 0 && v.idle; }",
        arg=NAME,
    )

    # The similarity heatmap: every displayed channel, the API's NMI values, the factor columns beside it.
    tab.wait_for_selector("#similarity-plot svg.main-svg")
    order = tab.evaluate("() => window.__ensembleView.order")
    pos = {c["index"]: p for p, c in enumerate(sim["channels"])}
    heatmap = tab.evaluate("() => document.querySelector('#similarity-plot').data[0]")
    assert heatmap["type"] == "heatmap" and len(heatmap["z"]) == len(order) == len(sim["channels"])
    for i, row in enumerate(order):
        for j, column in enumerate(order):
            expected = sim["nmi"][pos[row]][pos[column]]
            assert heatmap["z"][i][j] == (None if expected is None else pytest.approx(expected))
    factors = tab.evaluate("() => document.querySelector('#similarity-plot').data[2]")
    assert factors["x"] == FACTOR_NAMES and len(factors["z"]) == len(order)
    ticks = tab.evaluate("() => document.querySelector('#similarity-plot').layout.yaxis.ticktext")
    assert {tick.rsplit(" z", 1)[0] for tick in ticks} == set(RUNS)  # runs by name: no beta, no seed

    # The facts and the information plot speak of runs, not betas.
    facts = " ".join(tab.inner_text("#ensemble-facts").split())
    assert "3 imported runs" in facts and "3, 2 latents" in facts and "saved latents" in facts
    assert tab.text_content("#info-title") == "Channel information per run"
    info_axis = tab.evaluate("() => document.querySelector('#info-plot').layout.xaxis")
    assert info_axis["ticktext"] == list(RUNS) and info_axis["title"]["text"] == "run"

    # No traversals: the pair panel says why, for the pair from the link (a z0 and its copy b z0) too.
    assert tab.is_visible("#traversal-absent")
    assert "no decoder" in tab.inner_text("#traversal-absent")
    assert tab.evaluate("() => window.__ensembleView.pair") == [0, 3]
    summary = tab.inner_text("#pair-summary")
    assert "between a z0 and b z0" in summary and summary.startswith("NMI 1.000")
    pair = tab.inner_text("#pair")
    assert "No traversal of a:" in pair and "No traversal of b:" in pair and "no decoder" in pair
    assert tab.locator("#pair img").count() == 0 and tab.locator("#hotspot-list img").count() == 0
    captions = tab.locator("#hotspot-list figcaption").all_inner_texts()
    assert len(captions) == len(hotspots) and all("no decoder: no traversal" in c for c in captions)
