"""Browser tests of the ensemble view (ensembles.html): the real server and Chromium, on the
first analysed ensemble the server holds, plus a synthetic 500-channel ensemble (served by
request interception) for the heatmap's responsiveness."""

from __future__ import annotations

import json
import random
import re
import time

import pytest

pytestmark = pytest.mark.e2e

HEATMAP_DRAG = "#similarity-plot .nsewdrag[data-subplot='xy']"
FACTOR_DRAG = "#similarity-plot .nsewdrag[data-subplot='x2y']"
SYNTHETIC = "synthetic-500"


# ------------------------------------------------------------------ helpers


def open_view(app, fragment: str = ""):
    page = app.page
    page.goto(f"{app.base_url}/ensembles.html{fragment}")
    return page


def wait_shown(page, ensemble_id: str) -> None:
    page.wait_for_function(
        "(id) => { const v = window.__ensembleView; return v && v.ensembleId === id && v.rows > 0 && v.idle; }",
        arg=ensemble_id,
    )


def cell_point(
    page, row: int, col: int, n: int, cols: int | None = None, drag: str = HEATMAP_DRAG
) -> tuple[float, float]:
    """Viewport coordinates of cell (row, col) of an n-row heatmap (rows top to bottom) with
    `cols` columns (n unless told), drawn in the subplot `drag`."""
    box = page.locator(drag).bounding_box()
    cols = n if cols is None else cols
    return box["x"] + box["width"] * (col + 0.5) / cols, box["y"] + box["height"] * (row + 0.5) / n


def figure_trace(page, selector: str, k: int) -> dict:
    """Trace k of the Plotly figure in `selector`."""
    return page.evaluate("([s, k]) => document.querySelector(s).data[k]", [selector, k])


def check_factor_heatmap(page, sim: dict) -> None:
    """The channel x factor heatmap (trace 2 of the similarity figure): the channel heatmap's
    rows in the same order, on the same y axis, one column per factor, the API's values."""
    order = page.evaluate("() => window.__ensembleView.order")
    pos = {c["index"]: p for p, c in enumerate(sim["channels"])}
    heatmap = figure_trace(page, "#similarity-plot", 0)
    factor = figure_trace(page, "#similarity-plot", 2)
    assert factor["type"] == "heatmap" and factor["xaxis"] == "x2" and factor["yaxis"] == "y"
    assert len(factor["z"]) == len(heatmap["z"]) == len(order)
    assert factor["y"] == heatmap["y"]
    assert factor["x"] == sim["factor_names"]
    assert all(len(row) == len(sim["factor_names"]) for row in factor["z"])
    for i, index in enumerate(order):
        expected = sim["nmi_factor"][pos[index]]
        assert factor["z"][i] == [None if v is None else pytest.approx(v) for v in expected]
    assert (factor["zmin"], factor["zmax"]) == (0, 1)
    layout = page.evaluate("() => document.querySelector('#similarity-plot').layout")
    # Directly to the right of the channel heatmap, narrower than it.
    main, side = layout["xaxis"]["domain"], layout["xaxis2"]["domain"]
    assert main[1] < side[0] and side[1] - side[0] < (main[1] - main[0]) / 3
    assert layout["xaxis2"]["anchor"] == "y"


def fusion_phrases(fusion: dict) -> list[str]:
    """The numbers (and names) of the fusion sentence, as the page writes them."""
    clipped = (
        [f"({fusion['nmi_above_one']} estimates above 1, at most {fusion['max_nmi']:.3f}, counted as 1)"]
        if fusion.get("nmi_above_one")
        else []
    )
    return [
        *clipped,
        f"Fused space: {fusion['info_bits']:.2f} bits, mean NMI to members {fusion['mean_nmi']:.3f}",
        f"best single member {fusion['best_member']}: {fusion['best_member_info_bits']:.2f} bits, "
        f"mean NMI {fusion['best_member_mean_nmi']:.3f}",
        f"most informative member {fusion['most_informative_member']}: {fusion['most_informative_member_info_bits']:.2f} bits",
    ]


def check_fusion_card(page, fusion: dict) -> None:
    page.wait_for_selector("#fusion-panel:not([hidden])")
    sentence = " ".join(page.text_content("#fusion-sentence").split())
    for phrase in fusion_phrases(fusion):
        assert phrase in sentence, (phrase, sentence)
    details = page.text_content("#fusion-details")
    budget = f" of {fusion['max_steps']:,}" if "max_steps" in fusion else ""
    assert f"{fusion['steps']:,}{budget} steps" in details and f"{fusion['channels']} channels" in details
    if fusion.get("converged"):
        assert f"(converged: < {fusion['tol']} gain over {fusion['patience']:,} steps)" in details
    assert ("started from random" in details) == (fusion.get("init") == "random" and not fusion.get("start_member"))
    spark = figure_trace(page, "#fusion-spark", 0)
    assert spark["type"] == "scatter" and spark["mode"] == "lines"
    assert spark["y"] == pytest.approx(fusion["history"])
    assert page.is_visible("#fusion-spark svg.main-svg")


def check_spaces_heatmap(page, spaces: dict, members: list[dict]) -> None:
    """One row and column per analysed member, ordered by beta then seed, labelled."""
    page.wait_for_selector("#spaces-panel:not([hidden]) #spaces-plot svg.main-svg")
    by_name = {m["name"]: m for m in members}
    expected = sorted(spaces["members"], key=lambda name: (by_name[name]["beta"], by_name[name]["seed"]))
    assert page.evaluate("() => window.__ensembleView.spacesOrder") == expected
    trace = figure_trace(page, "#spaces-plot", 0)
    n = len(spaces["members"])
    assert len(trace["z"]) == n and all(len(row) == n for row in trace["z"])
    at = {name: k for k, name in enumerate(spaces["members"])}
    for i, a in enumerate(expected):
        for j, b in enumerate(expected):
            value = spaces["nmi"][at[a]][at[b]]
            assert trace["z"][i][j] == (None if value is None else pytest.approx(value))
    ticks = page.evaluate("() => document.querySelector('#spaces-plot').layout.yaxis.ticktext")
    assert ticks == [f"β{by_name[name]['beta']:g} s{by_name[name]['seed']}" for name in expected]


def hotspot_runs(order: list[int], labels: dict[int, int]) -> list[tuple[int, int, int]]:
    """(label, first, last position) of each run of one hotspot label (>= 0) along `order`."""
    runs: list[list[int]] = []
    for pos, index in enumerate(order):
        label = labels[index]
        if label < 0:
            continue
        if runs and runs[-1][0] == label and runs[-1][2] == pos - 1:
            runs[-1][2] = pos
        else:
            runs.append([label, pos, pos])
    return [tuple(r) for r in runs]


def band_count(page) -> int:
    """Hotspot bands drawn over the reachability profile."""
    return page.evaluate(
        "() => document.querySelector('#similarity-plot').layout.shapes.filter((s) => s.yref === 'y2 domain').length"
    )


@pytest.fixture(scope="module")
def ensemble(server) -> dict:
    """The first analysed ensemble the server lists, with its detail, similarity and hotspots."""
    analysed = [e for e in server.json("/api/ensembles")["ensembles"] if e["analysed"]]
    if not analysed:
        pytest.skip(
            "the served models folder holds no analysed ensemble: run `latentatlas ensemble analyze "
            "models/ensembles/NAME`, or point LATENTATLAS_E2E_MODELS_DIR at a folder that has one"
        )
    ensemble_id = analysed[0]["id"]
    return {
        "id": ensemble_id,
        "detail": server.json(f"/api/ensembles/{ensemble_id}"),
        "similarity": server.json(f"/api/ensembles/{ensemble_id}/similarity"),
        "hotspots": server.json(f"/api/ensembles/{ensemble_id}/hotspots"),
    }


# ------------------------------------------------------------------ the real ensemble


def test_heatmap_reachability_hotspots_and_pair(app, server, ensemble, screenshot_path):
    ensemble_id, sim, hotspots = ensemble["id"], ensemble["similarity"], ensemble["hotspots"]
    channels = {c["index"]: c for c in sim["channels"]}
    pos = {c["index"]: p for p, c in enumerate(sim["channels"])}
    labels = {c["index"]: label for c, label in zip(sim["channels"], sim["labels"])}
    model_ids = {m["name"]: m["model_id"] for m in ensemble["detail"]["members"]}

    page = open_view(app)
    wait_shown(page, ensemble_id)  # the first analysed ensemble is picked by itself
    assert page.input_value("#ensemble-select") == ensemble_id
    assert f"ensemble={ensemble_id}" in page.evaluate("() => location.hash")
    options = page.eval_on_selector_all("#ensemble-select option", "os => os.map(o => o.value)")
    assert options == [e["id"] for e in server.json("/api/ensembles")["ensembles"]]

    # The heatmap: one trace, every channel, clustered ones first in OPTICS order.
    page.wait_for_selector("#similarity-plot svg.main-svg")
    order = page.evaluate("() => window.__ensembleView.order")
    unclustered = [c["index"] for c in sim["channels"] if c["index"] not in set(sim["ordering"])]
    assert order == sim["ordering"] + unclustered
    heatmap = page.evaluate("() => document.querySelector('#similarity-plot').data[0]")
    assert heatmap["type"] == "heatmap"
    assert len(heatmap["z"]) == len(sim["channels"]) and all(len(row) == len(sim["channels"]) for row in heatmap["z"])
    rng = random.Random(0)
    for _ in range(20):
        i, j = rng.randrange(len(order)), rng.randrange(len(order))
        expected = sim["nmi"][pos[order[i]]][pos[order[j]]]
        assert heatmap["z"][i][j] == (pytest.approx(expected) if expected is not None else None)

    # The reachability profile above it: one bar per finite reachability, bands per hotspot run.
    reach = page.evaluate("() => document.querySelector('#similarity-plot').data[1]")
    assert reach["type"] == "bar" and reach["yaxis"] == "y2"
    assert len(reach["y"]) == len(sim["ordering"])
    finite = sum(r is not None for r in sim["reachability"])
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('#similarity-plot .barlayer .point path')].filter((p) => p.getBBox().height > 0).length"
    )
    assert drawn == finite
    runs = hotspot_runs(order, labels)
    assert band_count(page) == len(runs)

    # Beside it, the channel x factor NMI on the same rows (when the probe set has factors).
    has_factors = bool(sim.get("factor_names")) and sim.get("nmi_factor") is not None
    if has_factors:
        check_factor_heatmap(page, sim)
        # Hovering a factor cell names the row's channel and the factor.
        k = len(sim["factor_names"]) - 1
        page.locator("#similarity-plot").scroll_into_view_if_needed()
        page.mouse.move(*cell_point(page, 0, k, len(order), len(sim["factor_names"]), FACTOR_DRAG))
        page.wait_for_selector("#similarity-tip:not([hidden])")
        tip = page.text_content("#similarity-tip")
        assert f"factor {sim['factor_names'][k]}" in tip
        assert any(f"channel {channels[i]['member']} z{channels[i]['dim']} ·" in tip for i in order[:2]), tip
        page.mouse.move(0, 0)
    else:
        assert len(page.evaluate("() => document.querySelector('#similarity-plot').data")) == 2

    # Hiding the unclustered channels leaves the OPTICS-ordered ones, in both heatmaps.
    page.uncheck("#show-unclustered")
    page.wait_for_function("(n) => window.__ensembleView.rows === n", arg=len(sim["ordering"]))
    if has_factors:
        check_factor_heatmap(page, sim)
    page.check("#show-unclustered")
    page.wait_for_function("(n) => window.__ensembleView.rows === n", arg=len(order))

    # The hotspot list: one item per hotspot; a click highlights its band (shapes only).
    items = page.locator("#hotspot-list li.hotspot")
    assert items.count() == len(hotspots["hotspots"])
    if hotspots["hotspots"]:
        first = hotspots["hotspots"][0]
        assert f"{len(first['channels'])} channels" in items.first.text_content()
        if first["best_factor"]:
            assert first["best_factor"] in items.first.text_content()
        items.first.locator("button").click()
        page.wait_for_function("(l) => window.__ensembleView.highlight === l", arg=first["label"])
        assert items.first.locator("button").get_attribute("aria-pressed") == "true"
        widths = page.evaluate(
            "() => document.querySelector('#similarity-plot').layout.shapes.map((s) => s.line?.width)"
        )
        assert 3 in widths
        page.wait_for_function(
            "() => [...document.querySelectorAll('#hotspot-list img.strip')].every((i) => i.complete && i.naturalWidth > 0)"
        )
        # One line: which hotspots beat the untrained null (the shipped analyses carry it).
        assert hotspots["untrained_nulls"], "the shipped analysis has no untrained null: rerun `ensemble analyze`"
        beating = [f"H{h['label']}" for h in hotspots["hotspots"] if h["beats_untrained_null"]]
        line = page.text_content("#hotspots-null")
        assert line.startswith(
            f"Beat the untrained null: {', '.join(beating) or 'none'} of {len(hotspots['hotspots'])} "
        )
        for null in hotspots["untrained_nulls"]:
            assert f"{null['cross_member_nmi_p95']:.3f}" in line
        assert page.get_attribute("#hotspots-null", "title") == hotspots["untrained_null_rule"]

    # Clicking an off-diagonal cell (the top-right corner) shows both channels' traversals.
    # A large ensemble's cells are a pixel or two wide: the click may land on a neighbour.
    n = len(order)
    page.locator("#similarity-plot").scroll_into_view_if_needed()
    page.mouse.click(*cell_point(page, 0, n - 1, n))
    page.wait_for_function("() => window.__ensembleView.pair !== null")
    a, b = page.evaluate("() => window.__ensembleView.pair")
    assert a in order[:2] and b in order[-2:] and a != b
    page.wait_for_function(
        "() => { const imgs = document.querySelectorAll('#pair img.strip');"
        " return imgs.length === 2 && [...imgs].every((i) => i.complete && i.naturalWidth > 0); }"
    )
    # Hovering that corner names both channels. Showing the pair scrolls the page (the plot's
    # top rows may leave the viewport) and leaves a stale tooltip under the still pointer, so
    # bring the heatmap back, leave and hover it again; on one- or two-pixel cells that may be
    # the clicked cell's neighbour, as above.
    page.evaluate("(s) => document.querySelector(s).scrollIntoView({block: 'center'})", HEATMAP_DRAG)
    page.mouse.move(0, 0)
    page.wait_for_selector("#similarity-tip", state="hidden")
    page.mouse.move(*cell_point(page, 0, n - 1, n))
    page.wait_for_selector("#similarity-tip:not([hidden])")
    tip = page.text_content("#similarity-tip")
    assert any(f"row {channels[i]['member']} z{channels[i]['dim']} ·" in tip for i in order[:2]), tip
    assert any(f"col {channels[j]['member']} z{channels[j]['dim']} ·" in tip for j in order[-2:]), tip
    assert "NMI" in tip
    figures = page.locator("#pair figure.channel-figure")
    assert figures.count() == 2
    for k, index in enumerate((a, b)):
        c = channels[index]
        caption = figures.nth(k).locator("figcaption").text_content()
        assert c["member"] in caption and f"z{c['dim']}" in caption and f"{c['info_bits']:.3f} bits" in caption
        assert f"β {c['beta']:g}" in caption
        model_id = model_ids[c["member"]]
        assert (
            figures.nth(k).locator("a.explorer-link").get_attribute("href")
            == f"./index.html#model={model_id}&dim={c['dim']}"
        )
        size = server.json(f"/api/models/{model_id}")["image_size"]
        width, height = figures.nth(k).locator("img.strip").evaluate("i => [i.naturalWidth, i.naturalHeight]")
        assert (width, height) == (11 * size, size)  # one row: that dim, 11 steps
    nmi = sim["nmi"][pos[a]][pos[b]]
    assert f"NMI {nmi:.3f}" in page.text_content("#pair-summary")
    assert re.search(rf"pair={a},{b}$", page.evaluate("() => location.hash"))

    detail = ensemble["detail"]
    assert page.is_hidden("#fusion-panel") == (not detail.get("fusion"))
    if detail.get("fusion"):
        check_fusion_card(page, detail["fusion"])
    assert page.is_hidden("#spaces-panel") == (not detail.get("spaces"))
    if detail.get("spaces"):
        check_spaces_heatmap(page, detail["spaces"], detail["members"])
    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors
    assert app.non_local() == []
    page.mouse.move(0, 0)
    screenshot = screenshot_path("ensembles.png")
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_pair_restored_from_link(app, ensemble):
    sim = ensemble["similarity"]
    a, b = sim["channels"][0]["index"], sim["channels"][-1]["index"]
    page = open_view(app, f"#ensemble={ensemble['id']}&pair={a},{b}")
    wait_shown(page, ensemble["id"])
    page.wait_for_function("() => document.querySelectorAll('#pair figure.channel-figure').length === 2")
    assert page.evaluate("() => window.__ensembleView.pair") == [a, b]
    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors


# ------------------------------------------------------------------ 500 channels


def synthetic_ensemble(members: int = 50, dims: int = 10, seed: int = 0, fusion: dict | None = None) -> dict[str, dict]:
    """Replies of the ensemble endpoints for a made-up ensemble of members x dims channels:
    blocks of similar channels along a shuffled OPTICS order, a few inactive channels (no
    factor NMI), whole-space NMI between members; the detail carries `fusion` when given."""
    rng = random.Random(seed)
    betas = [1.0, 2.0, 4.0, 8.0, 16.0]
    seeds = -(-members // len(betas))
    names = [f"beta{int(betas[m % len(betas)])}-seed{m // len(betas)}" for m in range(members)]
    channels = []
    for m, name in enumerate(names):
        for d in range(dims):
            active = rng.random() > 0.1
            channels.append(
                {
                    "index": m * dims + d,
                    "member": name,
                    "dim": d,
                    "beta": betas[m % len(betas)],
                    "seed": m // len(betas),
                    "info_bits": rng.uniform(0.5, 4.0) if active else 0.001,
                    "active": active,
                }
            )
    active = [c["index"] for c in channels if c["active"]]
    ordering = active[:]
    rng.shuffle(ordering)
    labels = [-2] * len(channels)
    position = {index: p for p, index in enumerate(ordering)}
    for p, index in enumerate(ordering):
        labels[index] = p // 30 if p % 30 < 24 else -1
    m = len(channels)
    nmi = [[None] * m for _ in range(m)]
    for i in range(m):
        for j in range(i, m):
            if not (channels[i]["active"] and channels[j]["active"]):
                continue
            same = labels[i] >= 0 and labels[i] == labels[j]
            value = 1.0 if i == j else (rng.uniform(0.5, 0.9) if same else rng.uniform(0.0, 0.25))
            nmi[i][j] = nmi[j][i] = round(value, 4)
    vi = [[None if v is None else round(2 * (1 - v), 4) for v in row] for row in nmi]
    # Low inside a block of 30, a jump where the next block starts.
    reachability = [None] + [
        round(0.2 + 0.5 * rng.random() if position[i] % 30 == 0 else 0.1 + 0.1 * rng.random(), 4) for i in ordering[1:]
    ]
    clusters = sorted({label for label in labels if label >= 0})
    info = {
        "id": SYNTHETIC,
        "kind": "vae",
        "dataset": "dsprites",
        "latent_dim": dims,
        "betas": betas,
        "seeds": seeds,
        "member_count": members,
        "status_counts": {"done": members},
        "analysed": True,
        "analysed_at": "2025-01-01T00:00:00+00:00",
    }
    factor_names = ["shape", "scale", "orientation", "posX", "posY"]
    nmi_factor = [[round(rng.random() * 0.8, 4) if c["active"] else None for _ in factor_names] for c in channels]
    space_nmi = [[1.0 if a == b else round(rng.uniform(0.3, 0.95), 4) for b in range(members)] for a in range(members)]
    spaces = {
        "members": names,
        "info_bits": [round(rng.uniform(3, 9), 3) for _ in names],
        "nmi": space_nmi,
        "vi": [[round(2 * (1 - v), 4) for v in row] for row in space_nmi],
    }
    return {
        "/api/ensembles": {"ensembles": [info]},
        f"/api/ensembles/{SYNTHETIC}": {
            **info,
            "probe_size": 1000,
            "factor_names": factor_names,
            "skipped_members": [],
            "spaces": spaces,
            **({"fusion": fusion} if fusion else {}),
            "members": [
                {"name": n, "beta": betas[k % len(betas)], "seed": k // len(betas), "status": "done", "model_id": None}
                for k, n in enumerate(names)
            ],
        },
        f"/api/ensembles/{SYNTHETIC}/similarity": {
            "ensemble": SYNTHETIC,
            "channels": channels,
            "nmi": nmi,
            "vi": vi,
            "distance": "nmi",
            "min_samples": 20,
            "clustered": active,
            "ordering": ordering,
            "reachability": reachability,
            "labels": labels,
            "factor_names": factor_names,
            "nmi_factor": nmi_factor,
        },
        f"/api/ensembles/{SYNTHETIC}/curves": {
            "source": f"ensemble/{SYNTHETIC}",
            "groups": sorted({n.split("-seed")[0] for n in names}),
            "members": [
                {
                    "name": n,
                    "group": n.split("-seed")[0],
                    "seed": k // len(betas),
                    "curves": {"step": [100, 200, 300], "loss": [rng.uniform(50, 90) for _ in range(3)]},
                }
                for k, n in enumerate(names)
            ],
        },
        f"/api/ensembles/{SYNTHETIC}/hotspots": {
            "ensemble": SYNTHETIC,
            "distance": "nmi",
            "min_samples": 20,
            "factor_names": factor_names,
            "hotspots": [
                {
                    "label": label,
                    "channels": [i for i in active if labels[i] == label],
                    "members": [channels[i]["member"] for i in active if labels[i] == label],
                    "betas": [channels[i]["beta"] for i in active if labels[i] == label],
                    "dims": [channels[i]["dim"] for i in active if labels[i] == label],
                    "mean_info_bits": 2.0,
                    "best_factor": "posX",
                    "best_factor_nmi": 0.6,
                    "factor_nmi": {f: round(rng.random() * 0.6, 3) for f in factor_names},
                }
                for label in clusters
            ],
        },
    }


def route_path(route) -> str:
    """The path of an intercepted request's URL."""
    return "/" + route.request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]


def reply(route, body: dict, status: int = 200) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


FUSION = {
    "objective": "exp_neg_vi",
    "steps": 300,
    "channels": 10,
    "start_member": "beta4-seed1",
    "info_bits": 12.5,
    "mean_nmi": 0.41,
    "mean_vi": 3.25,
    "best_member": "beta4-seed1",
    "best_member_info_bits": 9.875,
    "best_member_mean_nmi": 0.3871,
    "most_informative_member": "beta1-seed0",
    "most_informative_member_info_bits": 11.204,
    "history": [0.2, 0.3, 0.35, 0.39, 0.41],
}


def test_500_channel_heatmap_stays_responsive(app):
    payloads = synthetic_ensemble(fusion=FUSION)
    names = {
        c["index"]: f"{c['member']} z{c['dim']} ·"
        for c in payloads[f"/api/ensembles/{SYNTHETIC}/similarity"]["channels"]
    }
    page = app.page
    page.route(
        re.compile(r".*/api/ensembles(/[^?]*)?(\?.*)?$"), lambda route: reply(route, payloads[route_path(route)])
    )
    open_view(app)
    wait_shown(page, SYNTHETIC)
    page.wait_for_selector("#similarity-plot svg.main-svg")
    n = page.evaluate("() => window.__ensembleView.rows")
    assert n == 500
    render_ms = page.evaluate("() => window.__ensembleView.renderMs")
    assert render_ms < 5000, f"drawing 500 x 500 channels took {render_ms:.0f} ms"
    similarity = payloads[f"/api/ensembles/{SYNTHETIC}/similarity"]
    check_factor_heatmap(page, similarity)
    page.uncheck("#show-unclustered")  # the inactive channels go, from both heatmaps
    page.wait_for_function("(n) => window.__ensembleView.rows === n", arg=len(similarity["ordering"]))
    check_factor_heatmap(page, similarity)
    page.check("#show-unclustered")
    page.wait_for_function("() => window.__ensembleView.rows === 500")
    detail = payloads[f"/api/ensembles/{SYNTHETIC}"]
    check_spaces_heatmap(page, detail["spaces"], detail["members"])

    # Count every full re-plot from here on: hovering and highlighting must cause none.
    page.evaluate(
        """() => {
            window.__replots = 0;
            for (const name of ['react', 'newPlot', 'redraw', 'restyle']) {
                const original = window.Plotly[name];
                window.Plotly[name] = (...args) => { window.__replots += 1; return original(...args); };
            }
        }"""
    )
    page.locator("#similarity-plot").scroll_into_view_if_needed()
    order = page.evaluate("() => window.__ensembleView.order")
    waits, previous = [], ""
    for k in range(12):
        row, col = (37 * k + 5) % n, (91 * k + 11) % n
        t0 = time.perf_counter()
        page.mouse.move(*cell_point(page, row, col, n))
        page.wait_for_function(
            "(old) => { const t = document.querySelector('#similarity-tip'); return !t.hidden && t.textContent !== old; }",
            arg=previous,
        )
        waits.append(time.perf_counter() - t0)
        previous = page.text_content("#similarity-tip")
        # Cells are about a pixel tall here: the pointer's whole pixel may sit in a neighbour.
        row_line, col_line = previous.split("\n")[:2]
        assert any(names[order[r]] in row_line for r in (row - 1, row, row + 1)), (row, row_line)
        assert any(names[order[c]] in col_line for c in (col - 1, col, col + 1)), (col, col_line)
    waits.sort()
    assert waits[len(waits) // 2] < 0.4, f"hover readout median {1000 * waits[len(waits) // 2]:.0f} ms"

    # The fusion card: the comparison sentence, the details, the objective's sparkline.
    check_fusion_card(page, FUSION)
    assert " ".join(page.text_content("#fusion-sentence").split()) == (
        "Fused space: 12.50 bits, mean NMI to members 0.410 — best single member beta4-seed1: 9.88 bits, "
        "mean NMI 0.387; most informative member beta1-seed0: 11.20 bits."
    )
    assert "mean exp(−VI)" in page.text_content("#fusion-details")

    page.locator("#hotspot-list li.hotspot button").nth(2).click()
    page.wait_for_function("() => window.__ensembleView.highlight === 2")
    assert page.evaluate("() => window.__replots") == 0
    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors


def test_analyze_button_follows_the_job(app):
    """An ensemble without analysis offers Analyze: the page posts the chosen distance and
    min_samples, shows the job's progress and then loads the results. (Intercepted: the
    served ensembles are never re-analysed by the tests.)"""
    payloads = synthetic_ensemble(members=4)
    similarity = payloads[f"/api/ensembles/{SYNTHETIC}/similarity"]
    job = {"analysed": False, "polls": 0, "body": None}

    def with_state(body: dict) -> dict:
        return {**body, "analysed": job["analysed"]}

    def fulfil(route):
        path = route_path(route)
        if path == "/api/ensembles":
            reply(route, {"ensembles": [with_state(e) for e in payloads[path]["ensembles"]]})
        elif path.endswith("/analyze"):
            job["body"] = route.request.post_data_json
            reply(route, {"job_id": "job-1", "status": "queued", "joined": False}, status=202)
        elif path == "/api/jobs/job-1":
            job["polls"] += 1
            job["analysed"] = job["polls"] >= 3
            state = (
                {"status": "done", "progress": 1.0, "stage": "done"}
                if job["analysed"]
                else {"status": "running", "progress": 0.5, "stage": "fragments"}
            )
            reply(
                route,
                {"job_id": "job-1", "model_id": None, "ensemble_id": SYNTHETIC, "result": None, "error": None, **state},
            )
        elif path.endswith(("/similarity", "/hotspots")) and not job["analysed"]:
            reply(route, {"detail": "not analysed"}, status=409)
        else:
            reply(route, with_state(payloads[path]))

    page = app.page
    page.route(re.compile(r".*/api/(ensembles|jobs)(/[^?]*)?(\?.*)?$"), fulfil)
    open_view(app)
    page.wait_for_function(
        "(id) => window.__ensembleView?.ensembleId === id && window.__ensembleView.idle", arg=SYNTHETIC
    )
    assert page.text_content("#analyze-button") == "Analyze"
    assert "Not analysed" in page.text_content("#similarity-plot")
    assert "not analysed" in page.text_content("#ensemble-select")

    # A min_samples the API would refuse is caught in the page, in the error banner.
    page.fill("#min-samples", "1")
    page.click("#analyze-button")
    page.wait_for_selector("#error:not([hidden])")
    assert "min samples" in page.text_content("#error-text")
    assert job["body"] is None
    page.click("#error-dismiss")

    page.fill("#min-samples", "5")
    page.select_option("#distance-select", "vi")
    page.click("#analyze-button")
    page.wait_for_function(
        "() => { const p = document.querySelector('#analyze-progress'); return !p.hidden && p.value === 0.5; }"
    )
    assert "fragments" in page.text_content("#analyze-status")
    assert page.is_disabled("#analyze-button")
    page.wait_for_function("(n) => window.__ensembleView.rows === n", arg=len(similarity["channels"]))
    assert job["body"] == {"distance": "vi", "min_samples": 5}
    assert page.is_hidden("#analyze-progress")
    assert page.text_content("#analyze-button") == "Re-analyze"
    assert "not analysed" not in page.text_content("#ensemble-select")
    assert page.is_hidden("#error")
    assert app.console_errors == [], app.console_errors


def test_no_negative_nmi_is_shown_and_the_clip_is_said(app, ensemble):
    """The estimator's NMI below 0 is served as 0 (never a value the colour scale silently clamps),
    and the hint says how many pairs were clipped and how far below 0 they went."""
    sim, clip = ensemble["similarity"], ensemble["similarity"]["nmi_clipping"]
    assert min(v for row in sim["nmi"] for v in row if v is not None) >= 0
    page = open_view(app, f"#ensemble={ensemble['id']}")
    wait_shown(page, ensemble["id"])
    shown = figure_trace(page, "#similarity-plot", 0)["z"]
    assert min(v for row in shown for v in row if v is not None) >= 0
    hint = page.text_content("#similarity-hint")
    if clip["below_zero"]:
        assert f"{clip['below_zero']} pairs estimated below 0 (down to {clip['min_estimate']:.3f})" in hint, hint
    else:
        assert "below 0" not in hint
