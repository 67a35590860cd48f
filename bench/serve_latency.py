"""Serving latency of Latent Atlas, end to end.

Starts the real server (``python -m latentatlas.cli serve``) on a free port of 127.0.0.1 with
the repository's ``models/`` folder and measures, per model:

* decode at batch 1 over HTTP (POST /api/models/{id}/decode, keep-alive), p50/p95 ms;
* decode over the WebSocket (/api/models/{id}/live): round trip and the server-side decode
  time it reports (the reply's ``ms``), p50/p95;
* a traversal grid of 10 dims (POST /traverse, steps=11; QLAE rows use the codebook, so the
  grid is 10 x codebook size), ms per grid;
* slider-to-image latency in the real browser (system Chromium, Playwright): the bench moves
  a slider N times (value change + ``input`` event, from inside the page) and times each move
  until the decoded image's ``load`` (the app's ``latentatlas:frame`` event), p50/p95;

and, in-process, dataset render throughput (images/s) of DSprites and Shapes3D for 256
factor combinations at a time.

Every request goes to 127.0.0.1; every loop has a fixed count. Writes JSON (default
bench/results/serve_latency.json). Targets: server-side decode p50 <= 5 ms, slider-to-image
p95 <= 100 ms.

    .venv/bin/python bench/serve_latency.py [--out PATH] [--n 200] [--moves 60] [--no-browser]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import CHROMIUM, CHROMIUM_ARGS, HOST, LocalServer, machine_info, percentiles
from latentatlas.store.folders import write_json

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "serve_latency.json"
TARGETS = {"server_decode_p50_ms": 5.0, "slider_to_image_p95_ms": 100.0}


# ------------------------------------------------------------------ helpers


def random_latents(model: dict, n: int, rng: np.random.Generator) -> list[list[float]]:
    """Plausible latents: random codes (QLAE) or mean + sd * N(0, 1)."""
    out = []
    for _ in range(n):
        if model.get("codebooks"):
            out.append([float(rng.choice(cb)) for cb in model["codebooks"]])
        else:
            mean, std = np.asarray(model["latent_mean"]), np.asarray(model["latent_std"])
            out.append((mean + std * rng.standard_normal(mean.shape)).tolist())
    return out


# ------------------------------------------------------------------ measurements


def bench_http_decode(port: int, model: dict, n: int, warmup: int, rng) -> dict:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    latents = random_latents(model, n + warmup, rng)
    times = []
    try:
        for i, latent in enumerate(latents):
            body = json.dumps({"latent": latent})
            t0 = time.perf_counter()
            conn.request("POST", f"/api/models/{model['id']}/decode", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status != 200 or not data.startswith(b"\x89PNG"):
                raise RuntimeError(f"decode -> {response.status}: {data[:200]!r}")
            if i >= warmup:
                times.append(elapsed)
    finally:
        conn.close()
    return percentiles(times)


def bench_ws_decode(port: int, model: dict, n: int, warmup: int, rng) -> tuple[dict, dict]:
    from websockets.sync.client import connect

    latents = random_latents(model, n + warmup, rng)
    round_trips, server_ms = [], []
    with connect(f"ws://{HOST}:{port}/api/models/{model['id']}/live", max_size=1 << 22, open_timeout=10) as ws:
        for seq, latent in enumerate(latents):
            t0 = time.perf_counter()
            ws.send(json.dumps({"latent": latent, "seq": seq}))
            reply = json.loads(ws.recv(timeout=30))
            elapsed = (time.perf_counter() - t0) * 1000
            if reply.get("error") or reply.get("seq") != seq:
                raise RuntimeError(f"live decode reply {reply!r:.200}")
            if seq >= warmup:
                round_trips.append(elapsed)
                server_ms.append(float(reply["ms"]))
    return percentiles(round_trips), percentiles(server_ms)


def bench_traverse(port: int, model: dict, repeats: int, rng) -> dict:
    dims = list(range(min(10, model["latent_dim"])))
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    times, shape = [], None
    try:
        for i, latent in enumerate(random_latents(model, repeats + 1, rng)):
            body = json.dumps({"latent": latent, "dims": dims, "steps": 11})
            t0 = time.perf_counter()
            conn.request("POST", f"/api/models/{model['id']}/traverse", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status != 200:
                raise RuntimeError(f"traverse -> {response.status}: {data[:200]!r}")
            reply = json.loads(data)
            shape = [len(reply["dims"]), reply["steps"]]
            if i >= 1:
                times.append(elapsed)
    finally:
        conn.close()
    return {"grid_dims_x_steps": shape, "requested_steps": 11, **percentiles(times)}


def bench_render(batch: int = 256, repeats: int = 5) -> dict:
    import torch

    from latentatlas.data.dsprites import DSprites
    from latentatlas.data.shapes3d import Shapes3D

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    rng = np.random.default_rng(0)
    out = {"batch": batch, "threads": torch.get_num_threads()}
    for name, cls in (("dsprites", DSprites), ("shapes3d", Shapes3D)):
        dataset = cls()
        dataset.render(dataset.sample_factors(8, rng))  # warm-up
        rates = []
        for _ in range(repeats):
            factors = dataset.sample_factors(batch, rng)
            t0 = time.perf_counter()
            images = dataset.render(factors)
            elapsed = time.perf_counter() - t0
            assert images.shape[0] == batch
            rates.append(batch / elapsed)
        out[name] = {
            "images_per_s_median": round(statistics.median(rates), 1),
            "images_per_s_all": [round(r, 1) for r in rates],
        }
    return out


SLIDER_SCRIPT = """
async ({values, dim, timeoutMs}) => {
  const slider = document.querySelector(`#sliders input[type=range][data-dim="${dim}"]`);
  if (!slider) throw new Error("no slider for dim " + dim);
  const results = [], appMs = [], serverMs = [];
  let timeouts = 0;
  for (const value of values) {
    const frame = new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      window.addEventListener("latentatlas:frame", (e) => { clearTimeout(timer); resolve(e.detail); }, { once: true });
    });
    const t0 = performance.now();
    slider.value = String(value);
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    const detail = await frame;
    const t1 = performance.now();
    if (!detail) { timeouts++; continue; }
    results.push(t1 - t0);
    appMs.push(detail.inputToFrameMs);
    if (detail.serverMs != null) serverMs.push(detail.serverMs);
    await new Promise((r) => setTimeout(r, 30));  // a hand does not move faster than this
  }
  return { results, appMs, serverMs, timeouts };
}
"""


def slider_values(model: dict, dim: int, moves: int) -> list[float]:
    """Slider positions that sweep back and forth, each one a different latent value:
    QLAE: code after code (sorted); continuous: 20 steps across mean +- 3 sd."""
    if model.get("codebooks"):
        points = sorted(model["codebooks"][dim])
    else:
        mean, std = model["latent_mean"][dim], model["latent_std"][dim]
        points = list(np.linspace(mean - 2.9 * std, mean + 2.9 * std, 20))
    sweep = points + points[-2:0:-1]  # 0 .. K-1 .. 1, then around again
    return [float(sweep[i % len(sweep)]) for i in range(moves)]


def bench_browser(port: int, model: dict, moves: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            hosts = set()
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]) if r.url.startswith(("http", "ws")) else None)
            page.goto(f"http://{HOST}:{port}/#model={model['id']}")
            page.wait_for_function(
                "(id) => { const h = window.__latentAtlas; return h && h.modelId === id && h.frames > 0 && h.idle && h.liveState === 'live'; }",
                arg=model["id"],
                timeout=30_000,
            )
            dim = 0
            raw = page.evaluate(
                SLIDER_SCRIPT, {"values": slider_values(model, dim, moves), "dim": dim, "timeoutMs": 3000}
            )
        finally:
            browser.close()
    return {
        "moves": moves,
        "dim": dim,
        "timeouts": raw["timeouts"],
        "input_to_image_load_ms": percentiles(raw["results"]),
        "app_reported_input_to_frame_ms": percentiles(raw["appMs"]),
        "server_decode_ms": percentiles(raw["serverMs"]),
        "hosts_requested": sorted(hosts),
    }


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--model", action="append", help="model id (repeatable; default: every served model)")
    parser.add_argument("--n", type=int, default=200, help="decodes per transport and model")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--traverse-repeats", type=int, default=10)
    parser.add_argument("--moves", type=int, default=60, help="slider moves in the browser")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    args = parser.parse_args()
    n, moves = max(1, min(args.n, 10_000)), max(1, min(args.moves, 1000))

    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, LocalServer(args.models_dir, Path(tmp) / "server.log") as server:
        port = server.port
        models = server.json("/api/models")["models"]
        if args.model:
            models = [m for m in models if m["id"] in args.model]
        results = {}
        for model in models:
            print(f"[{model['id']}] HTTP decode x{n} …", flush=True)
            entry = {
                "kind": model["kind"],
                "latent_dim": model["latent_dim"],
                "image_size": model["image_size"],
                "channels": model["channels"],
            }
            entry["http_decode_ms"] = bench_http_decode(port, model, n, args.warmup, rng)
            print(f"[{model['id']}] WebSocket decode x{n} …", flush=True)
            entry["ws_round_trip_ms"], entry["ws_server_decode_ms"] = bench_ws_decode(port, model, n, args.warmup, rng)
            print(f"[{model['id']}] traversal x{args.traverse_repeats} …", flush=True)
            entry["traverse_10_dims_ms"] = bench_traverse(port, model, max(1, min(args.traverse_repeats, 100)), rng)
            if not args.no_browser:
                if CHROMIUM.exists():
                    print(f"[{model['id']}] browser slider x{moves} …", flush=True)
                    entry["browser_slider"] = bench_browser(port, model, moves)
                else:
                    entry["browser_slider"] = {"skipped": f"{CHROMIUM} not found"}
            results[model["id"]] = entry

    print("dataset render throughput …", flush=True)
    render = bench_render()

    checks = {}
    for model_id, entry in results.items():
        server_p50 = entry["ws_server_decode_ms"].get("p50")
        slider = entry.get("browser_slider", {}).get("input_to_image_load_ms", {})
        checks[model_id] = {
            "server_decode_p50_ms": {
                "value": server_p50,
                "target": TARGETS["server_decode_p50_ms"],
                "ok": server_p50 is not None and server_p50 <= TARGETS["server_decode_p50_ms"],
            },
            "slider_to_image_p95_ms": {
                "value": slider.get("p95"),
                "target": TARGETS["slider_to_image_p95_ms"],
                "ok": slider.get("p95") is not None and slider["p95"] <= TARGETS["slider_to_image_p95_ms"],
            },
        }
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(load_before),
        "settings": {"n": n, "warmup": args.warmup, "moves": moves, "browser": not args.no_browser},
        "targets": TARGETS,
        "models": results,
        "dataset_render": render,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report)
    print(json.dumps({"out": str(args.out), "checks": checks}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
