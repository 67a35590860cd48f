"""How long a cancelled metrics job takes to stop while exact DCI fits its trees.

Starts the real server over one shipped model (a hard-linked copy: the job writes ``runs/``
beside the card), starts its metrics job (10,000 samples, the default), waits until the job
reports exact DCI and then ``--into`` seconds more, sends ``DELETE /api/jobs/{id}`` and measures
the seconds until the job says ``cancelled``, ``--repeats`` times. Before the stop flag the work
stopped only when a factor's whole fit had ended (~18 s measured for qlae-dsprites). The machine's
load average is recorded: other work skews every number.

    .venv/bin/python bench/job_cancel.py [--model qlae-dsprites] [--repeats 3] [--out PATH]
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
from devtools import LocalServer, machine_info, write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "job_cancel.json"
TARGET_S = 2.0


def _request(url: str, method: str = "GET") -> dict:
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait(url: str, done, poll_s: float = 0.05, timeout_s: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = _request(url)
        if done(job):
            return job
        time.sleep(poll_s)
    raise TimeoutError(f"{url}: not there within {timeout_s:.0f} s")


def cancel_once(server: LocalServer, model: str, into_s: float) -> dict:
    job_id = _request(f"{server.url}/api/models/{model}/metrics", "POST")["job_id"]
    job_url = f"{server.url}/api/jobs/{job_id}"
    job = _wait(
        job_url, lambda j: "dci" in j["stage"].lower() or (j["status"] != "running" and j["status"] != "queued")
    )
    if job["status"] not in ("running", "queued"):
        raise RuntimeError(f"the job ended before exact DCI: {job}")
    time.sleep(into_s)
    stage = _request(job_url)["stage"]
    started = time.perf_counter()
    _request(job_url, "DELETE")
    final = _wait(job_url, lambda j: j["status"] != "running", poll_s=0.02)
    return {
        "stage_when_cancelled": stage,
        "status": final["status"],
        "seconds": round(time.perf_counter() - started, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qlae-dsprites")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--into", type=float, default=2.0, help="seconds into exact DCI before the cancel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        models.mkdir()
        source = REPO_ROOT / "models" / args.model
        (models / args.model).mkdir()
        for path in source.iterdir():
            if path.is_file():
                os.link(path, models / args.model / path.name)
        server = LocalServer(models, Path(tmp) / "server.log")
        try:
            runs = [cancel_once(server, args.model, args.into) for _ in range(args.repeats)]
        finally:
            server.stop()
    seconds = [run["seconds"] for run in runs]
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": args.model,
        "target_s": TARGET_S,
        "runs": runs,
        "max_s": max(seconds),
        "meets_target": max(seconds) <= TARGET_S,
        "machine": machine_info(load_before),
    }
    print(json.dumps(report, indent=2))
    write_report(args.out, report)


if __name__ == "__main__":
    main()
