"""Top-C decoding latency of the models with ordered latents (EOFlow), server side and over HTTP.

For every model with ordered latents in the models folder, on one dataset image:

* in process, the service method the /truncate router calls (``OrderedLatentService.truncate``: encode,
  top-C decode, PSNR, PNG data URLs): one C at batch 1, and a whole 16-C PSNR curve (16
  log-spaced C from 1 to D) in one batched call, p50/p95 ms after a warm-up;
* the same two requests over HTTP (POST /api/models/{id}/truncate, JSON by dataset index,
  keep-alive) against ``latentatlas serve`` on a free port of 127.0.0.1 (the server renders
  the dataset image per request, as the app's requests make it do).

Targets: batch 1 p50 <= 20 ms, 16-C curve p50 <= 200 ms. Records torch threads, the CPU and the
load average, which skew every number. Writes JSON (default bench/results/eoflow_latency.json).

    .venv/bin/python bench/eoflow_latency.py [--models-dir DIR] [--out PATH] [--n 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import HOST, LocalServer, machine_info, percentiles
from latentatlas.store.folders import write_json

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "eoflow_latency.json"
TARGETS = {"batch1_p50_ms": 20.0, "curve16_p50_ms": 200.0}
CURVE_POINTS = 16
DATASET_INDEX = 0


# ------------------------------------------------------------------ helpers


def log_spaced(dim: int, n: int) -> list[int]:
    """Up to ``n`` distinct integers in 1..dim, log-spaced, 1 and dim included (as the app's curve)."""
    if dim <= 1:
        return [1]
    return sorted({round(math.exp(math.log(dim) * i / (n - 1))) for i in range(n)})


def timed(call, n: int, warmup: int) -> dict:
    """p50/p95 ms of ``call()`` over ``n`` runs after ``warmup`` untimed ones."""
    times = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        call()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    return percentiles(times)


# ------------------------------------------------------------------ measurements


def bench_in_process(service, n: int, warmup: int, max_batch: int) -> dict:
    from latentatlas.serve.services.ordered import OrderedLatentService

    dim = service.config.latent_dim
    images = service.dataset_images([DATASET_INDEX])
    ordered = OrderedLatentService.of(service, "truncate its latent")
    one, curve = [max(1, dim // 16)], log_spaced(dim, CURVE_POINTS)
    return {
        "keep_batch1": one,
        "keep_curve": curve,
        "batch1_ms": timed(lambda: ordered.truncate(images, one, max_batch), n, warmup),
        "curve16_ms": timed(lambda: ordered.truncate(images, curve, max_batch), n, warmup),
    }


def post_truncate(conn: http.client.HTTPConnection, model_id: str, keep: list[int]) -> None:
    body = json.dumps({"dataset_index": DATASET_INDEX, "keep": keep})
    conn.request("POST", f"/api/models/{model_id}/truncate", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"truncate -> {response.status}: {data[:200]!r}")
    if len(json.loads(data)["results"]) != len(keep):
        raise RuntimeError(f"truncate answered {data[:200]!r}")


def bench_http(port: int, model_id: str, keeps: dict, n: int, warmup: int) -> dict:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        return {
            "batch1_ms": timed(lambda: post_truncate(conn, model_id, keeps["keep_batch1"]), n, warmup),
            "curve16_ms": timed(lambda: post_truncate(conn, model_id, keeps["keep_curve"]), n, warmup),
        }
    finally:
        conn.close()


def check(value: float, target: float) -> dict:
    return {"value": value, "target": target, "ok": value <= target}


def print_table(results: dict) -> None:
    print(f"{'model':<24} {'measure':<26} {'p50 ms':>9} {'p95 ms':>9}  target")
    for model_id, entry in results.items():
        measures = (
            ("batch1_ms", "batch 1", TARGETS["batch1_p50_ms"]),
            ("curve16_ms", f"{len(entry['keep_curve'])}-C curve", TARGETS["curve16_p50_ms"]),
        )
        for where in ("in_process", "http"):
            for key, name, target in measures:
                stats = entry[where][key]
                label = f"{where} {name}"
                print(f"{model_id:<24} {label:<26} {stats['p50']:>9.2f} {stats['p95']:>9.2f}  p50 <= {target:g} ms")


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--n", type=int, default=100, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    n, warmup = max(1, min(args.n, 10_000)), max(0, min(args.warmup, 100))

    from latentatlas.config import Settings
    from latentatlas.devices import resolve_device, set_threads
    from latentatlas.serve.registry import ModelRegistry

    settings = Settings(models_dir=args.models_dir)
    set_threads(settings.torch_threads)
    load_before = os.getloadavg()
    device = resolve_device(settings.device)
    registry = ModelRegistry(args.models_dir, device, memory_budget=1 << 40)  # every flow stays loaded
    ordered = [model_id for model_id, model in registry.models.items() if model.capabilities.ordered]
    flows = {model_id: service for model_id in ordered if (service := registry.get(model_id)) is not None}
    if not flows:
        print(f"no truncatable model in {args.models_dir}", file=sys.stderr)
        return 1

    results = {}
    for model_id, service in flows.items():
        print(f"[{model_id}] in process x{n} …", flush=True)
        entry = bench_in_process(service, n, warmup, settings.max_decode_batch)
        keeps = {key: entry.pop(key) for key in ("keep_batch1", "keep_curve")}
        results[model_id] = {
            "latent_dim": service.config.latent_dim,
            "image_size": service.config.net.image_size,
            "channels": service.config.net.channels,
            **keeps,
            "in_process": entry,
        }
    del registry, flows

    with tempfile.TemporaryDirectory() as tmp, LocalServer(args.models_dir, Path(tmp) / "server.log") as server:
        for model_id, entry in results.items():
            print(f"[{model_id}] HTTP x{n} …", flush=True)
            entry["http"] = bench_http(server.port, model_id, entry, n, warmup)

    checks = {
        model_id: {
            "batch1_p50_ms": check(entry["in_process"]["batch1_ms"]["p50"], TARGETS["batch1_p50_ms"]),
            "curve16_p50_ms": check(entry["in_process"]["curve16_ms"]["p50"], TARGETS["curve16_p50_ms"]),
        }
        for model_id, entry in results.items()
    }
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine_info(load_before), "device": str(device)},
        "settings": {"n": n, "warmup": warmup, "dataset_index": DATASET_INDEX, "curve_points": CURVE_POINTS},
        "targets": TARGETS,
        "models": results,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report)
    print_table(results)
    print(json.dumps({"out": str(args.out), "machine": report["machine"], "checks": checks}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
