"""The population view, measured: encoding 5,000 seeded dataset samples on the server for every
shipped model (render + encode + PCA, the server's own timings), and in Chromium the first draw
once the server's cache is warm (click "Encode" -> scatter and histograms drawn: request, JSON,
WebGL scatter of 5,000 points, histograms).

Writes JSON (default bench/results/population.json). Target (issue 12): first draw <= 2 s
server + client with a warm cache.

    .venv/bin/python bench/population.py [--n 5000] [--model ID ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import CHROMIUM, CHROMIUM_ARGS, HOST, LocalServer, http_get, machine_info, percentiles, write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "population.json"
TARGET_FIRST_DRAW_S = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--model", action="append")
    parser.add_argument("--draws", type=int, default=3, help="warm first draws per model in the browser")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    results = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalServer(REPO_ROOT / "models", Path(tmp) / "server.log") as server,
        sync_playwright() as playwright,
    ):
        models = [m for m in server.json("/api/models")["models"] if m["ensemble"] is None and m["factor_names"]]
        if args.model:
            models = [m for m in models if m["id"] in args.model]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for model in models:
                started = time.perf_counter()
                status, body = http_get(
                    f"{server.url}/api/models/{model['id']}/population?n={args.n}&seed=0", timeout=600
                )
                if status != 200:
                    raise RuntimeError(f"population of {model['id']}: HTTP {status}: {body[:200]!r}")
                data = json.loads(body)
                entry = {
                    "n": data["n"],
                    "dims": data["dims"],
                    "first_request_s": round(time.perf_counter() - started, 3),
                    "server_seconds": {k: round(v, 3) for k, v in data["seconds"].items()},
                }
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(f"http://{HOST}:{server.port}/#model={model['id']}")
                page.wait_for_function(
                    "(id) => { const h = window.__latentAtlas; return h && h.modelId === id && h.frames > 0 && h.idle; }",
                    arg=model["id"],
                    timeout=120_000,
                )
                page.select_option("#population-n", str(args.n))
                draws = []
                for _ in range(max(1, args.draws)):
                    page.evaluate("() => { delete document.querySelector('#population-panel').dataset.points; }")
                    t0 = time.perf_counter()
                    page.click("#population-button")
                    page.wait_for_function(
                        f"() => document.querySelector('#population-panel').dataset.points === '{args.n}'",
                        timeout=120_000,
                    )
                    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")  # painted
                    draws.append((time.perf_counter() - t0) * 1000)
                entry["warm_first_draw_ms"] = percentiles(draws)
                page.close()
                results[model["id"]] = entry
                print(
                    f"[{model['id']}] encode {args.n}: {sum(data['seconds'].values()):.1f} s on the server; warm draw p50 {entry['warm_first_draw_ms']['p50']:.0f} ms",
                    flush=True,
                )
        finally:
            browser.close()
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "target_first_draw_s": TARGET_FIRST_DRAW_S,
        "machine": machine_info(load_before),
        "models": results,
    }
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
