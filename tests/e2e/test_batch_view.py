"""Batch upload in the explorer, at desktop width and at 390 px: several files (a multiple pick,
a folder with a non-image in it, several files dropped) give a reconstruction grid with each
image's PSNR and out-of-distribution verdict, and their latents join the population view as
"yours"."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

MODEL = "qlae-dsprites"
VIEWPORTS = {"desktop": {"width": 1440, "height": 1000}, "phone": {"width": 390, "height": 844}}


def noise_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def page_at(browser, server, models):
    if MODEL not in models:
        pytest.skip(f"{MODEL} is not served")
    contexts, errors = [], []

    def open_at(viewport: str):
        context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone")
        context.set_default_timeout(60_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server.url}/#model={MODEL}")
        page.wait_for_function("(id) => window.__latentAtlas?.modelId === id && window.__latentAtlas.idle", arg=MODEL)
        return page

    yield open_at
    for context in contexts:
        context.close()
    assert not errors, errors


def grid(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#batch-grid figure",
        "figs => figs.map(f => ({psnr: Number(f.dataset.psnr), far: f.dataset.far, text: f.textContent, "
        "imgs: [...f.querySelectorAll('img')].map(i => i.naturalWidth)}))",
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_several_files_give_a_grid_and_join_the_population(page_at, server, tmp_path, viewport):
    page = page_at(viewport)
    files = []
    for i in range(3):
        files.append(tmp_path / f"noise{i}.png")
        files[-1].write_bytes(noise_png(i))
    page.set_input_files("#batch-files", [str(f) for f in files])
    page.wait_for_selector("#batch-panel[data-images='3']")
    shown = grid(page)
    assert len(shown) == 3 and all(np.isfinite(item["psnr"]) for item in shown)
    for path, item in zip(files, shown, strict=True):
        assert path.name in item["text"] and " dB" in item["text"] and item["imgs"] == [64, 64]
        assert ("far from training" in item["text"]) == (item["far"] == "true")
    assert "3 image(s) encoded" in page.text_content("#batch-note")
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths

    page.click("#population-button")
    page.wait_for_function("() => document.querySelector('#population-scatter').data?.some(t => t.name === 'yours')")
    yours = page.evaluate("() => document.querySelector('#population-scatter').data.find(t => t.name === 'yours').text")
    assert yours == [f"yours: {f.name}" for f in files]


def test_a_folder_skips_non_images_and_a_drop_of_several_files_works(page_at, tmp_path):
    page = page_at("desktop")
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.png").write_bytes(noise_png(5))
    (folder / "b.png").write_bytes(noise_png(6))
    (folder / "notes.txt").write_text("not an image")
    page.set_input_files("#batch-folder", str(folder))
    page.wait_for_selector("#batch-panel[data-images='2']")
    assert "1 non-image file(s) skipped" in page.text_content("#batch-note")
    assert all("shots/" in item["text"] for item in grid(page))  # a folder's files keep their relative paths

    page.evaluate(
        """async (pngs) => {
            const transfer = new DataTransfer();
            pngs.forEach((bytes, i) => transfer.items.add(new File([new Uint8Array(bytes)], `dropped${i}.png`,
                {type: 'image/png'})));
            document.querySelector('#batch-panel').dispatchEvent(new DragEvent('drop', {dataTransfer: transfer,
                bubbles: true, cancelable: true}));
        }""",
        [list(noise_png(7)), list(noise_png(8))],
    )
    page.wait_for_function("() => document.querySelector('#batch-grid').textContent.includes('dropped1.png')")
    assert len(grid(page)) == 2
