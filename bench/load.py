"""Load: many concurrent clients against the real server, and what it holds.

Starts ``latentatlas serve`` on a free port of 127.0.0.1 with the repository's ``models/`` and
runs phases of N concurrent clients for T seconds each (default 50 clients x 60 s, then
150 x 60 s). Each client loops over a realistic mix, chosen at random with fixed weights:
decode (HTTP), a WebSocket live session (10 latents), dataset-image encode, photo upload
encode (a 1024x768 JPEG), a traversal grid, and top-C truncation of a flow. A prober in its own
process hits ``/healthz`` every 100 ms. Clients honour Retry-After on 503/429, as browsers' code here
does. The load generator runs on the same 2 cores as the server (one asyncio loop), so its own
scheduling delay is part of every latency it reports, /healthz's included. Per phase it records requests/s, p50/p95/p99 per endpoint,
status counts (``error`` = connection error or the 30 s client timeout), the server's RSS
(before, peak, after) and /healthz p99.

Targets (issue 11, this 2-core machine): 0 errors at 50 clients; at 150 only 2xx or 503/429,
nothing over 30 s, /healthz p99 <= 100 ms; RSS at 50 clients <= 1 GB. Every request goes to
127.0.0.1, every loop is bounded in time, and the run stops by itself. Writes JSON (default
bench/results/load.json).

    .venv/bin/python bench/load.py [--phases 50:60,150:60] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import websockets
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import HOST, LocalServer, machine_info, percentiles, rss_mb
from latentatlas.store.folders import write_json

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "load.json"
TIMEOUT_S = 30.0
MIX = {"decode": 35, "live": 15, "encode_index": 15, "encode_photo": 10, "traverse": 15, "truncate": 10}
TARGETS = {"errors_at_50": 0, "healthz_p99_ms": 100.0, "rss_at_50_mb": 1024, "max_request_s": 30.0}


def photo_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    picture = Image.fromarray(base).resize((1024, 768), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class Recorder:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)

    def add(self, endpoint: str, status: str, ms: float) -> None:
        self.times[endpoint].append(ms)
        self.statuses[endpoint][status] += 1


async def timed(recorder: Recorder, endpoint: str, call) -> httpx.Response | None:
    """One request, timed and counted; a 503/429 is honoured as a client should: it waits the
    Retry-After seconds before its next request."""
    started = time.perf_counter()
    try:
        response = await call()
        status = str(response.status_code)
    except (httpx.HTTPError, OSError) as error:
        response, status = None, f"error ({type(error).__name__})"
    recorder.add(endpoint, status, (time.perf_counter() - started) * 1000)
    if response is not None and response.status_code in (429, 503):
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    return response


async def live_session(recorder: Recorder, url: str, model: dict, rng: random.Random) -> None:
    started = time.perf_counter()
    status = "ok"
    try:
        async with asyncio.timeout(TIMEOUT_S):
            async with websockets.connect(url, max_size=1 << 22, origin=f"http://{url.split('/')[2]}") as ws:
                for seq in range(10):
                    await ws.send(json.dumps({"latent": latent_for(model, rng), "seq": seq}))
                    reply = json.loads(await ws.recv())
                    if "error" in reply:
                        status = "busy" if "busy" in reply["error"] else "error-reply"
    except (OSError, TimeoutError, websockets.WebSocketException) as error:
        status = "error" if not isinstance(error, websockets.InvalidStatus) else str(error.response.status_code)
    recorder.add("live (10 frames)", status, (time.perf_counter() - started) * 1000)


def latent_for(model: dict, rng: random.Random) -> list[float]:
    if model.get("codebooks"):
        return [rng.choice(codes) for codes in model["codebooks"]]
    return [m + s * rng.gauss(0, 1) for m, s in zip(model["latent_mean"], model["latent_std"])]


async def client_loop(
    index: int,
    base: str,
    models: list[dict],
    flows: list[dict],
    photo: bytes,
    deadline: float,
    recorder: Recorder,
    http: httpx.AsyncClient,
) -> None:
    rng = random.Random(index)
    kinds, weights = zip(*MIX.items())
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        model = rng.choice(flows if kind == "truncate" and flows else models)
        path = f"{base}/api/models/{model['id']}"
        if kind == "decode":
            await timed(recorder, kind, lambda: http.post(f"{path}/decode", json={"latent": latent_for(model, rng)}))
        elif kind == "live":
            await live_session(recorder, f"ws://{base.split('://')[1]}/api/models/{model['id']}/live", model, rng)
        elif kind == "encode_index":
            await timed(
                recorder, kind, lambda: http.post(f"{path}/encode", json={"dataset_index": rng.randrange(1000)})
            )
        elif kind == "encode_photo":
            await timed(
                recorder, kind, lambda: http.post(f"{path}/encode", files={"image": ("photo.jpg", photo, "image/jpeg")})
            )
        elif kind == "traverse":
            dims = list(range(min(10, model["latent_dim"])))
            await timed(
                recorder,
                kind,
                lambda: http.post(
                    f"{path}/traverse", json={"latent": latent_for(model, rng), "dims": dims, "steps": 10}
                ),
            )
        elif kind == "truncate":
            keep = sorted({1, 4, 16, 64, model["latent_dim"] // 16, model["latent_dim"]})
            await timed(
                recorder,
                kind,
                lambda: http.post(f"{path}/truncate", json={"dataset_index": rng.randrange(1000), "keep": keep}),
            )


def probe_health(base: str, seconds: float, results) -> None:
    """In its own process (so the load generator's busy event loop does not delay it): GET
    /healthz every 100 ms on a fresh connection; (status, ms) pairs into ``results``."""
    from devtools import http_get

    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            status = str(http_get(f"{base}/healthz", timeout=TIMEOUT_S)[0])
        except OSError as error:
            status = f"error ({type(error).__name__})"
        results.put((status, (time.perf_counter() - started) * 1000))
        time.sleep(0.1)


async def run_phase(
    server: LocalServer, clients: int, seconds: float, models: list[dict], flows: list[dict], photo: bytes
) -> dict:
    recorder, rss = Recorder(), []
    before = rss_mb(server.pid)
    deadline = time.perf_counter() + seconds
    # idle connections expire before the server's 5 s keep-alive closes them (no reuse race)
    limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8, keepalive_expiry=3.0)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits, headers={"Origin": server.url}) as http:

        async def sample_rss() -> None:
            while time.perf_counter() < deadline:
                rss.append(rss_mb(server.pid))
                await asyncio.sleep(0.5)

        context = multiprocessing.get_context("spawn")
        health = context.Queue()
        probe = context.Process(target=probe_health, args=(server.url, seconds, health))
        probe.start()
        started = time.perf_counter()
        await asyncio.gather(
            sample_rss(),
            *(client_loop(i, server.url, models, flows, photo, deadline, recorder, http) for i in range(clients)),
        )
        wall = time.perf_counter() - started
        probe.join(TIMEOUT_S + 10)
        while not health.empty():
            recorder.add("healthz", *health.get())
    await asyncio.sleep(2)
    total = sum(len(v) for k, v in recorder.times.items() if k != "healthz")
    statuses = {k: dict(v) for k, v in recorder.statuses.items()}
    all_statuses = Counter()
    for endpoint, counts in recorder.statuses.items():
        if endpoint != "healthz":
            all_statuses.update(counts)
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": total,
        "requests_per_second": round(total / wall, 1),
        "statuses": dict(all_statuses),
        "errors": sum(
            n
            for status, n in all_statuses.items()
            if status.startswith("error") or (status.startswith("5") and status != "503")
        ),
        "slowest_s": round(max((max(v) for k, v in recorder.times.items() if v), default=0) / 1000, 2),
        "endpoints": {k: {**percentiles(v), "statuses": statuses[k]} for k, v in sorted(recorder.times.items())},
        "rss_mb": {
            "before": round(before, 1),
            "peak": round(max(rss, default=before), 1),
            "after": round(rss_mb(server.pid), 1),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="50:60,150:60", help="CLIENTS:SECONDS, comma separated")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    args = parser.parse_args()
    phases = [tuple(float(x) for x in phase.split(":")) for phase in args.phases.split(",")]
    load_before = os.getloadavg()
    photo = photo_jpeg()
    with tempfile.TemporaryDirectory() as tmp, LocalServer(args.models_dir, Path(tmp) / "server.log") as server:
        models = server.json("/api/models")["models"]
        served = [m for m in models if not m.get("ensemble") and m["latent_dim"] <= 64]  # the explorer's models
        flows = [m for m in models if m["capabilities"]["ordered"]]
        idle = rss_mb(server.pid)
        results = [
            asyncio.run(run_phase(server, int(clients), seconds, served, flows, photo)) for clients, seconds in phases
        ]
        log_tail = server.log()
    report = {
        "benchmark": "load",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(load_before),
        "host": HOST,
        "models": [m["id"] for m in served] + [m["id"] for m in flows if m not in served],
        "mix_weights": MIX,
        "idle_rss_mb": round(idle, 1),
        "targets": TARGETS,
        "phases": results,
        "tracebacks_in_server_log": log_tail.count("Traceback"),
    }
    write_json(args.out, report)
    for phase in results:
        health = phase["endpoints"].get("healthz", {})
        print(
            f"{phase['clients']:>4} clients: {phase['requests_per_second']} req/s, statuses {phase['statuses']}, "
            f"slowest {phase['slowest_s']} s, healthz p99 {health.get('p99')} ms, RSS {phase['rss_mb']} MB"
        )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
