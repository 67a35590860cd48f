"""Browser test of the ordered-latents panel (EOFlow): the live top-C decode under a dragged
logarithmic C slider, the scree and PSNR-vs-C plots and their click-to-set-C, the denoising
view, and the flow's limited latent sliders. Runs on the first served model whose info says
``capabilities.ordered`` (LATENTATLAS_E2E_MODELS_DIR points the server at a folder with one)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

MAX_SLIDERS = 16
PSNR_SLACK_DB = 0.5


@pytest.fixture
def flow_model(models) -> dict:
    flows = [m for m in models.values() if m["capabilities"]["ordered"]]
    if not flows:
        pytest.skip(
            "no served model has ordered latents: train one (latentatlas train eoflow ...) and set "
            "LATENTATLAS_E2E_MODELS_DIR to its models folder"
        )
    return flows[0]


# ------------------------------------------------------------------ helpers


def wait_idle(page, model_id: str) -> None:
    page.wait_for_function(
        "(id) => { const h = window.__latentAtlas; return h && h.modelId === id && h.frames > 0 && h.idle; }",
        arg=model_id,
    )


def src(page, selector: str) -> str:
    return page.get_attribute(selector, "src") or ""


def shown_keep(page) -> int:
    """C of the top-C decode on screen (the readout's, not the slider's)."""
    return int(page.get_attribute("#flow-psnr", "data-keep"))


def shown_psnr(page) -> float:
    return float(page.get_attribute("#flow-psnr", "data-db"))


def keep_readout(page) -> int:
    return int(re.fullmatch(r"C = (\d+)", page.text_content("#flow-keep-value")).group(1))


def settle(page, model_id: str) -> tuple[int, float, str]:
    """Wait until the decode shown answers the slider's C; (C, PSNR, decode src)."""
    wait_idle(page, model_id)
    page.wait_for_function(
        "() => document.querySelector('#flow-psnr').dataset.keep === document.querySelector('#flow-keep-value').textContent.slice(4)"
    )
    return shown_keep(page), shown_psnr(page), src(page, "#flow-decode")


def track_truncate_concurrency(page) -> dict:
    """Count single-C /truncate requests (the slider's, not the PCA baseline's) and the most in flight at once."""
    stats = {"sent": 0, "inflight": 0, "max_inflight": 0}
    seen = set()  # requests started since tracking began (earlier ones may still finish)

    def single_keep(request) -> bool:
        if not request.url.endswith("/truncate") or not request.post_data:
            return False
        body = json.loads(request.post_data)
        return len(body["keep"]) == 1 and not body.get("baselines")  # the PCA baseline's requests run apart

    def started(request):
        if single_keep(request):
            seen.add(id(request))
            stats["sent"] += 1
            stats["inflight"] += 1
            stats["max_inflight"] = max(stats["max_inflight"], stats["inflight"])

    def ended(request):
        if id(request) in seen:
            seen.discard(id(request))
            stats["inflight"] -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    return stats


def click_plot_point(page, selector: str, x: float, y: float) -> None:
    """Click the data point (x, y) of a Plotly plot with the mouse."""
    page.locator(selector).scroll_into_view_if_needed()
    point = page.evaluate(
        """([sel, x, y]) => {
            const gd = document.querySelector(sel);
            const rect = gd.getBoundingClientRect();
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            return [rect.left + xa._offset + xa.d2p(x), rect.top + ya._offset + ya.d2p(y)];
        }""",
        [selector, x, y],
    )
    page.mouse.click(*point)


# ------------------------------------------------------------------ test


def test_flow_panel_truncates_plots_and_denoises(app, server, flow_model, tmp_path, screenshot_path):
    page, model_id, dim = app.page, flow_model["id"], flow_model["latent_dim"]
    detail = server.json(f"/api/models/{model_id}")
    held_out, peers = detail["card"].get("flow", {}).get("truncation"), detail["peers"]
    # the server path: every step of a drag is a /truncate (the in-browser path, which asks once
    # per drag, is tested in test_browser_decode.py)
    page.add_init_script("localStorage.setItem('latentatlas.decodeInBrowser', '0')")
    page.goto(f"{app.base_url}/#model={model_id}")
    wait_idle(page, model_id)
    assert page.is_visible("#flow-panel")

    # Sliders (and traversal rows) for the top latents only; the live decode still follows them.
    sliders = page.locator("#sliders input[type=range]").count()
    assert sliders == min(dim, MAX_SLIDERS) <= MAX_SLIDERS
    page.wait_for_function("() => document.querySelectorAll('#traversal-labels .grid-label').length > 0")
    assert page.locator("#traversal-labels .grid-label").count() == sliders
    # 32x32 tiles are shown upscaled (nearest neighbour), not at 32 px.
    page.wait_for_function("() => document.querySelector('#traversal-img').naturalWidth > 0")
    natural, shown = page.eval_on_selector(
        "#traversal-img", "img => [img.naturalWidth, img.getBoundingClientRect().width]"
    )
    if flow_model["image_size"] < 64:
        assert shown >= 1.5 * natural, (natural, shown)

    before = src(page, "#original-img")
    page.click("#sample-button")
    page.wait_for_function("(old) => document.querySelector('#original-img').src !== old", arg=before)
    frames = page.evaluate("() => window.__latentAtlas.frames")
    page.locator("#sliders input[data-dim='0']").focus()
    page.keyboard.press("End")
    page.wait_for_function(f"() => window.__latentAtlas.frames > {frames}")
    assert len(page.evaluate("() => window.__latentAtlas.latent")) == dim

    # C: keyboard Home is C = 1; a real mouse drag along the slider decodes live, one request at a time.
    stats = track_truncate_concurrency(page)
    keep_slider = page.locator("#flow-keep")
    keep_slider.scroll_into_view_if_needed()
    keep_slider.focus()
    page.keyboard.press("Home")
    low = settle(page, model_id)
    assert low[0] == 1
    assert page.text_content("#flow-ratio").startswith(f"kept 1 of {dim} dims")
    sent = stats["sent"]
    box = keep_slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    for i in range(1, 13):
        page.mouse.move(box["x"] + box["width"] * 0.85 * i / 12, y)
        page.wait_for_timeout(40)
    page.mouse.up()
    mid = settle(page, model_id)
    assert mid[0] > low[0] and keep_readout(page) == mid[0]
    assert stats["sent"] - sent >= 2, "the decode did not follow the drag"
    assert stats["max_inflight"] == 1, "more than one /truncate of the slider in flight"
    page.keyboard.press("End")
    high = settle(page, model_id)
    assert high[0] == dim
    assert f"kept {dim} of {dim} dims" in page.text_content("#flow-ratio")
    for (c0, db0, src0), (c1, db1, src1) in ((low, mid), (mid, high)):
        assert src1 != src0, f"the top-C decode did not change from C={c0} to C={c1}"
        assert db1 != db0 and db1 >= db0 - PSNR_SLACK_DB, f"PSNR {db0:.2f} dB at C={c0} but {db1:.2f} dB at C={c1}"
    assert page.eval_on_selector("#flow-residual", "c => c.width") == flow_model["image_size"]

    # Plots: the scree over every ordered latent (a +-2 standard error band, the entropies and
    # their cumulative share), PSNR against C (log axes), this image's curve and the peers'.
    page.wait_for_selector("#flow-scree svg.main-svg")
    page.wait_for_selector("#flow-psnr-plot svg.main-svg")
    scree = page.evaluate("() => document.querySelector('#flow-scree').data.map(t => [t.name ?? null, t.x.length])")
    assert scree == [[None, dim], ["+-2 standard errors", dim], ["explained entropy", dim], ["cumulative share", dim]]
    for selector in ("#flow-scree", "#flow-psnr-plot"):
        assert page.evaluate(f"() => document.querySelector('{selector}').layout.xaxis.type") == "log"
    traces = page.evaluate(
        "() => document.querySelector('#flow-psnr-plot').data.map(t => ({name: t.name, x: t.x, y: t.y}))"
    )
    by_name = {t["name"].split(" ")[0]: t for t in traces}
    if held_out:
        peer_names = {f"{p['id']}:" for p in peers}
        assert set(by_name) == {"EOFlow", "PCA", "this"} | peer_names
        assert by_name["EOFlow"]["x"] == by_name["PCA"]["x"] == held_out["keep"]
        for peer in peers:  # e.g. the lambda_MTC = 0 ablation, from its own card
            assert by_name[f"{peer['id']}:"]["x"] == peer["truncation"]["keep"]
    else:
        assert set(by_name) == {"this"}
        assert "no held-out evaluation" in page.text_content("#flow-note")
    curve = next(t for t in traces if t["name"] == "this image")
    assert curve["x"][0] == 1 and curve["x"][-1] == dim and 10 <= len(curve["x"]) <= 16

    # MED against C (the card's flow.med: every latent scored), beside its shuffled-rows null.
    med = detail["card"].get("flow", {}).get("med")
    if med:
        page.wait_for_selector("#flow-med-plot svg.main-svg")
        med_traces = page.evaluate("() => document.querySelector('#flow-med-plot').data.map(t => [t.name, t.x, t.y])")
        assert [name for name, _, _ in med_traces] == ["MED D", "MED C", "D, shuffled rows", "C, shuffled rows"]
        assert med_traces[0][1] == med["by_keep"]["keep"] and med_traces[0][2] == med["by_keep"]["disentanglement"]
        assert f"MED on all {dim} latents" in page.text_content("#flow-med-note")
    else:
        assert "No MED against C" in page.text_content("#flow-med-plot")

    # Clicking a point of this image's curve sets C (the slider, the decode and the line follow).
    i = len(curve["x"]) // 2
    target = curve["x"][i]
    click_plot_point(page, "#flow-psnr-plot", target, curve["y"][i])
    page.wait_for_function("(c) => document.querySelector('#flow-keep-value').textContent === `C = ${c}`", arg=target)
    assert settle(page, model_id)[0] == target
    assert page.evaluate("() => document.querySelector('#flow-psnr-plot').layout.shapes[0].x0") == target

    # Denoising: noisy and denoised images with PSNRs; the same sigma gives the same noise.
    page.wait_for_function("() => document.querySelector('#flow-denoised-psnr').dataset.db !== undefined")
    for selector in ("#flow-noisy", "#flow-denoised"):
        assert src(page, selector).startswith("data:image/png"), selector
        assert page.eval_on_selector(selector, "img => img.naturalWidth") == flow_model["image_size"]
    assert "dB" in page.text_content("#flow-noisy-psnr") and f"C={target}" in page.text_content("#flow-denoised-psnr")
    noisy = src(page, "#flow-noisy")
    sigma = page.locator("#flow-sigma")
    sigma.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("(old) => document.querySelector('#flow-noisy').src !== old", arg=noisy)
    assert page.text_content("#flow-sigma-value") == "0.11"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("(old) => document.querySelector('#flow-noisy').src === old", arg=noisy)
    wait_idle(page, model_id)
    screenshot = screenshot_path("flow.png")
    page.locator("#flow-panel").screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000

    # An uploaded image goes to /truncate and /denoise as multipart, with the same controls.
    photo = tmp_path / "stripes.png"
    Image.fromarray(((np.indices((40, 40)).sum(axis=0) // 5) % 2 * 255).astype(np.uint8)).save(photo)
    before = {selector: src(page, selector) for selector in ("#flow-original", "#flow-noisy")}
    multipart = set()
    page.on(
        "request",
        lambda r: (
            multipart.add(r.url.rsplit("/", 1)[1])
            if r.headers.get("content-type", "").startswith("multipart/form-data")
            else None
        ),
    )
    page.set_input_files("#file-input", str(photo))
    for selector, old in before.items():
        page.wait_for_function("([sel, old]) => document.querySelector(sel).src !== old", arg=[selector, old])
    assert settle(page, model_id)[0] == target
    assert {"encode", "truncate", "denoise"} <= multipart

    assert page.is_hidden("#error"), page.text_content("#error-text")
    assert app.console_errors == [], app.console_errors


def test_flow_panel_hidden_for_other_models(app, models, flow_model):
    others = [m for m in models.values() if not m["capabilities"]["ordered"]]
    if not others:
        pytest.skip("every served model has ordered latents: nothing to hide the panel for")
    page = app.page
    page.goto(f"{app.base_url}/#model={flow_model['id']}")
    wait_idle(page, flow_model["id"])
    assert page.is_visible("#flow-panel")
    page.select_option("#model-select", others[0]["id"])
    wait_idle(page, others[0]["id"])
    assert page.is_hidden("#flow-panel")
    assert page.locator("#sliders input[type=range]").count() == others[0]["latent_dim"]
    assert app.console_errors == [], app.console_errors


def test_flow_errors_reach_the_banner(app, flow_model):
    """A failing /denoise shows the server's detail in the app's error banner."""
    page, model_id = app.page, flow_model["id"]
    page.goto(f"{app.base_url}/#model={model_id}")
    wait_idle(page, model_id)
    settle(page, model_id)
    page.route(
        re.compile(r".*/denoise$"),
        lambda route: route.fulfill(
            status=422, content_type="application/json", body=json.dumps({"detail": "sigma is too noisy"})
        ),
    )
    page.locator("#flow-sigma").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error-text") == "denoise: sigma is too noisy (HTTP 422)"
    wait_idle(page, model_id)
