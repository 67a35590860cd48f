"""Start-up time and memory of the server over every shipped model (``models/``).

Starts the real server (``python -m latentatlas.cli serve``) over a hard-linked copy of the models
folder (the metrics job writes ``runs/`` beside a card; the shipped folder stays untouched) and
measures:

* seconds from the process start to ``/readyz`` 200 (the models folder indexed, without torch), and
  to the first answer of the API (``GET /api/models``, sent at ready: it waits for the API, whose
  modules import torch, to be built), over ``--repeats`` starts; the resident memory (RSS) once idle;
  apart, in a fresh interpreter, how much of the start is indexing (its imports included) and how
  much importing the API;
* a scripted session: 20 models opened (GET /api/models/{id} + one encode of a dataset image
  each), 4 populations encoded (n = 1000), one metrics job run to the end; RSS after it, and how
  many models are loaded then (the LRU budget, ``LATENTATLAS_MODEL_MEMORY_MB``, bounds them).

``--compare BACKEND`` measures another checkout's server the same way (start-up and idle RSS:
its ``backend/`` folder first on PYTHONPATH), e.g. the code before lazy loading. Targets: ready
<= 2 s, idle RSS <= 400 MB, <= 1 GB after the session. The machine's load average is recorded:
other work skews every number.

    .venv/bin/python bench/startup_memory.py [--out PATH] [--compare /path/to/other/backend]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import LocalServer, http_get, machine_info, rss_mb, write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "startup_memory.json"
TARGETS = {"ready_s": 2.0, "idle_rss_mb": 400.0, "session_rss_mb": 1024.0}
SESSION_MODELS, POPULATIONS, POPULATION_N = 20, 4, 1000
METRICS_JOB = {"samples": 1000, "seed": 0, "train_votes": 100, "eval_votes": 50}


def link_copy(source: Path, target: Path) -> None:
    """The models folder as hard links (instant; atomic writes replace files, never edit them)."""
    try:
        shutil.copytree(source, target, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)


def post_json(url: str, body: dict, timeout: float = 300.0) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


PHASES = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
import uvicorn, latentatlas.cli
from latentatlas.config import Settings
from latentatlas.serve.startup import index_models
imported = time.perf_counter()
index_models(Settings(models_dir=Path(sys.argv[1])))
indexed = time.perf_counter()
assert "torch" not in sys.modules
import latentatlas.serve.app
print(json.dumps({"index_imports_s": round(imported - started, 2), "index_s": round(indexed - imported, 2),
                  "api_imports_s": round(time.perf_counter() - indexed, 2)}))
"""


def phases(models_dir: Path) -> dict:
    """Where the start-up time goes, in a fresh interpreter: the imports indexing needs (no torch),
    indexing the models folder (the registry and the ensembles), then importing the API (torch)."""
    out = subprocess.run([sys.executable, "-c", PHASES, str(models_dir)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def start(models_dir: Path, log_path: Path) -> tuple[LocalServer, float, float, float]:
    """(server, seconds to /readyz 200, seconds to the API's first answer, idle RSS in MB after a
    second's rest)."""
    started = time.perf_counter()
    server = LocalServer(models_dir, log_path, ready_timeout_s=300)
    ready_s = time.perf_counter() - started  # LocalServer polls /readyz every 0.05 s
    status, _ = http_get(f"{server.url}/api/models", timeout=120)
    api_s = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"GET /api/models -> {status}")
    time.sleep(1.0)
    return server, ready_s, api_s, rss_mb(server.pid)


def session(server: LocalServer) -> dict:
    """20 models opened and encoded, 4 populations, one metrics job: what each took and RSS after."""
    models = server.json("/api/models")["models"]
    top_level = [m["id"] for m in models if m["ensemble"] is None]
    members = [m["id"] for m in models if m["ensemble"] is not None]
    opened = (top_level + members)[:SESSION_MODELS]
    timings = {}
    t0 = time.perf_counter()
    for model_id in opened:
        status, _ = http_get(f"{server.url}/api/models/{model_id}", timeout=60)
        encoded, body = post_json(f"{server.url}/api/models/{model_id}/encode", {"dataset_index": 0})
        if status != 200 or encoded != 200:
            raise RuntimeError(f"{model_id}: describe {status}, encode {encoded}: {str(body)[:200]}")
    timings["open_and_encode_20_s"] = round(time.perf_counter() - t0, 2)
    rss_after_models = rss_mb(server.pid)
    t0 = time.perf_counter()
    factor_models = [m["id"] for m in models if m["id"] in opened and m["factor_names"]][:POPULATIONS]
    for model_id in factor_models:
        status, body = http_get(f"{server.url}/api/models/{model_id}/population?n={POPULATION_N}&seed=0", timeout=300)
        if status != 200:
            raise RuntimeError(f"{model_id} population -> {status}: {body[:200]!r}")
    timings["populations_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    status, job = post_json(f"{server.url}/api/models/{opened[0]}/metrics", METRICS_JOB)
    if status != 202:
        raise RuntimeError(f"metrics job -> {status}: {job}")
    while (state := server.json(f"/api/jobs/{job['job_id']}"))["status"] not in ("done", "failed", "cancelled"):
        time.sleep(0.5)
    if state["status"] != "done":
        raise RuntimeError(f"metrics job {state['status']}: {state.get('error')}")
    timings["metrics_job_s"] = round(time.perf_counter() - t0, 2)
    time.sleep(1.0)
    ready = server.json("/readyz")
    return {
        "models_opened": opened,
        "populations": factor_models,
        "population_n": POPULATION_N,
        "metrics_job": {"model": opened[0], **METRICS_JOB},
        "seconds": timings,
        "rss_after_20_models_mb": round(rss_after_models, 1),
        "rss_after_session_mb": round(rss_mb(server.pid), 1),
        "loaded_after_session": ready.get("loaded"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--repeats", type=int, default=3, help="measured starts (the median is reported)")
    parser.add_argument(
        "--compare", type=Path, help="another checkout's backend/ folder, measured the same way (start-up only)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    result: dict = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="latentatlas-bench-") as scratch:
        models_dir, cache_dir = Path(scratch) / "models", Path(scratch) / "cache"
        link_copy(args.models_dir, models_dir)
        os.environ.setdefault("LATENTATLAS_CACHE_DIR", str(cache_dir))
        os.environ.setdefault("LATENTATLAS_ONNX_CACHE_DIR", str(Path(scratch) / "onnx"))
        with start(models_dir, Path(scratch) / "server.log")[0] as server:
            pass  # warm the file cache and the imports once: the measured start is the second
        repeats: list[tuple[float, float]] = []  # (ready, API) of each measured start
        for _ in range(args.repeats - 1):
            earlier, *seconds, _ = start(models_dir, Path(scratch) / "server.log")
            with earlier:
                repeats.append((seconds[0], seconds[1]))
        server, ready_s, api_s, idle_rss = start(models_dir, Path(scratch) / "server.log")
        repeats.append((ready_s, api_s))
        with server:
            ready = server.json("/readyz")
            result["startup"] = {
                "ready_s": round(statistics.median(r for r, _ in repeats), 2),
                "api_s": round(statistics.median(a for _, a in repeats), 2),
                "ready_s_repeats": [round(r, 2) for r, _ in repeats],
                "api_s_repeats": [round(a, 2) for _, a in repeats],
                "idle_rss_mb": round(idle_rss, 1),
                "models": ready["models"],
                "loaded_at_ready": ready.get("loaded"),
                "failed": ready["failed"],
            }
            print(
                f"ready {result['startup']['ready_s_repeats']} s, API {result['startup']['api_s_repeats']} s",
                flush=True,
            )
            print(f"idle RSS {idle_rss:.0f} MB, {ready['models']} models", flush=True)
            result["startup"]["phases"] = phases(models_dir)
            print(f"of which (measured apart) {result['startup']['phases']}", flush=True)
            result["session"] = session(server)
            print(f"after the session: RSS {result['session']['rss_after_session_mb']:.0f} MB", flush=True)
        if args.compare:
            previous = os.environ.get("PYTHONPATH", "")
            os.environ["PYTHONPATH"] = os.pathsep.join([str(args.compare), previous]) if previous else str(args.compare)
            try:
                other, other_ready_s, _, other_idle = start(models_dir, Path(scratch) / "compare.log")
                with other:
                    result["compare"] = {
                        "backend": str(args.compare),
                        "ready_s": round(other_ready_s, 2),
                        "idle_rss_mb": round(other_idle, 1),
                    }
            finally:
                os.environ["PYTHONPATH"] = previous
            print(
                f"compared ({args.compare}): ready in {other_ready_s:.2f} s, idle RSS {other_idle:.0f} MB", flush=True
            )
    result["met"] = {
        "ready_s": result["startup"]["ready_s"] <= TARGETS["ready_s"],
        "idle_rss_mb": result["startup"]["idle_rss_mb"] <= TARGETS["idle_rss_mb"],
        "session_rss_mb": result["session"]["rss_after_session_mb"] <= TARGETS["session_rss_mb"],
    }
    result["machine"] = machine_info(load_before)
    write_report(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
