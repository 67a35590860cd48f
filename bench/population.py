"""The population view, measured: encoding N seeded dataset samples on the server for every
shipped model (render + encode + PCA, the server's own timings, from an empty on-disk cache), the
cached reply in the binary form and as JSON (time and size), and in Chromium the first draw once the
server's cache is warm (click "Encode" -> scatter and histograms drawn: request, binary form, WebGL
scatter of N points, histograms).

Writes JSON (default bench/results/population.json, or population-<N>.json for another N). Targets:
first draw <= 2 s server + client with a warm cache (issue 12, 5,000 points); 100,000 samples encoded
in <= 60 s for a QLAE on this machine (issue 23).

    .venv/bin/python bench/population.py [--n 5000] [--model ID ...]
    .venv/bin/python bench/population.py --n 100000 --model qlae-dsprites
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import CHROMIUM, CHROMIUM_ARGS, HOST, LocalServer, machine_info, percentiles, rss_mb, write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results"
TARGET_FIRST_DRAW_S = 2.0
TARGET_ENCODE_100K_S = 60.0
BINARY = "application/vnd.latentatlas.population"


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system, all threads), from /proc (Linux): the work, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_get(url: str, accept: str) -> tuple[float, bytes]:
    """Seconds and body of a GET with an Accept header (an HTTP error raises)."""
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=900) as response:
        body = response.read()
    return time.perf_counter() - started, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--model", action="append")
    parser.add_argument("--draws", type=int, default=3, help="warm first draws per model in the browser")
    args = parser.parse_args()
    out = args.out or RESULTS / ("population.json" if args.n == 5000 else f"population-{args.n}.json")
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    results = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalServer(REPO_ROOT / "models", Path(tmp) / "server.log", cache_dir=Path(tmp) / "derived") as server,
        sync_playwright() as playwright,
    ):
        models = [m for m in server.json("/api/models")["models"] if m["ensemble"] is None and m["factor_names"]]
        if args.model:
            models = [m for m in models if m["id"] in args.model]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for model in models:
                url = f"{server.url}/api/models/{model['id']}/population?n={args.n}&seed=0"
                cpu_before = cpu_seconds(server.pid)
                first_s, _ = timed_get(url, BINARY)
                first_cpu_s = cpu_seconds(server.pid) - cpu_before
                binary_s, packed = timed_get(url, BINARY)
                json_s, body = timed_get(url, "application/json")
                data = json.loads(body)
                entry = {
                    "n": data["n"],
                    "dims": data["dims"],
                    "first_request_s": round(first_s, 3),
                    "first_request_server_cpu_s": round(first_cpu_s, 1),
                    "server_rss_mb_after": round(rss_mb(server.pid)),
                    "server_seconds": {k: round(v, 3) for k, v in data["seconds"].items()},
                    "cached_binary": {"seconds": round(binary_s, 3), "bytes": len(packed)},
                    "cached_json": {"seconds": round(json_s, 3), "bytes": len(body)},
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
        "target_encode_100k_s": TARGET_ENCODE_100K_S,
        "machine": machine_info(load_before),
        "models": results,
    }
    write_report(out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
