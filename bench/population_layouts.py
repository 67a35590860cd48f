"""How long the population view's UMAP and t-SNE layouts take on the server.

Starts the real server over one shipped model (a hard-linked copy) with an empty derived-data
cache, encodes its population of each size (GET /population, binary), then asks for each layout
(POST /population-layout, polled through GET /api/jobs/{id}) and records the job's wall time and
the layout's own seconds (the server's), then asks again (cached). Targets: none stated by the
issue beyond "with progress"; the numbers say what a user waits. The machine's load average is
recorded: other work skews every number.

    .venv/bin/python bench/population_layouts.py [--model qlae-dsprites] [--n 2000 10000 20000] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import LocalServer, machine_info, write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "population_layouts.json"
BINARY = "application/vnd.latentatlas.population"


def _population(server: LocalServer, model: str, n: int) -> float:
    started = time.perf_counter()
    request = urllib.request.Request(
        f"{server.url}/api/models/{model}/population?n={n}&seed=0", headers={"Accept": BINARY}
    )
    with urllib.request.urlopen(request, timeout=1200) as response:
        response.read()
    return round(time.perf_counter() - started, 2)


def _layout(server: LocalServer, model: str, method: str, n: int) -> dict:
    started = time.perf_counter()
    job = server.post_json(f"/api/models/{model}/population-layout", {"method": method, "n": n, "seed": 0})
    final = server.wait_job(job["job_id"], timeout_s=1800)
    if final["status"] != "done":
        raise RuntimeError(f"{method} n={n}: {final}")
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "layout_s": final["result"]["seconds"],
        "cached": final["result"]["cached"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qlae-dsprites")
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 10000, 20000])
    parser.add_argument("--methods", nargs="+", default=["umap", "tsne"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        (models / args.model).mkdir(parents=True)
        for path in (REPO_ROOT / "models" / args.model).iterdir():
            if path.is_file():
                os.link(path, models / args.model / path.name)
        server = LocalServer(models, Path(tmp) / "server.log", cache_dir=Path(tmp) / "cache")
        try:
            for n in args.n:
                encode_s = _population(server, args.model, n)
                for method in args.methods:
                    first = _layout(server, args.model, method, n)
                    again = _layout(server, args.model, method, n)
                    runs.append({"n": n, "method": method, "population_s": encode_s, "first": first, "cached": again})
                    print(runs[-1], flush=True)
        finally:
            server.stop()
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": args.model,
        "runs": runs,
        "machine": machine_info(load_before),
        "note": "the first UMAP in a fresh server also pays numba's compilation (cached on disk after)",
    }
    write_report(args.out, report)


if __name__ == "__main__":
    main()
