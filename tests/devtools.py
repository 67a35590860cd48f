"""Helpers for the project's own browser tests and benchmarks: a real server on a free
port of 127.0.0.1, the flags that keep the system Chromium on this machine, and the
benchmarks' latency summary.

The server is started exactly as a user would (``python -m latentatlas.cli serve``) in a
subprocess; nothing here is used by the app itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"
CHROMIUM = Path("/usr/bin/chromium")
# Headless, no sandbox (root), and none of Chromium's background traffic: every request a
# page makes must stay on this machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def percentiles(values: list[float]) -> dict:
    """n, p50, p95, p99, mean, min and max of timings (ms), rounded to microseconds."""
    if not values:
        return {"n": 0}
    array = np.asarray(values, dtype=np.float64)
    summary = {
        "p50": np.percentile(array, 50),
        "p95": np.percentile(array, 95),
        "p99": np.percentile(array, 99),
        "mean": array.mean(),
        "min": array.min(),
        "max": array.max(),
    }
    return {"n": int(array.size), **{key: round(float(value), 3) for key, value in summary.items()}}


def write_report(out: Path, report: dict) -> None:
    """Write a benchmark's report as JSON at ``out`` (its folder made if missing; atomically) and say where."""
    from latentatlas.store.folders import write_json

    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    print(f"wrote {out}")


def machine_info(load_before: tuple[float, ...]) -> dict:
    """What a benchmark's numbers depend on: platform, CPU, Python, torch and its threads, and
    the 1-minute load average before and after the run (other work skews every number)."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "torch_threads_in_process": torch.get_num_threads(),
        "server_torch_threads": os.environ.get("LATENTATLAS_TORCH_THREADS", "2 (default)"),
        "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }


def rss_mb(pid: int) -> float:
    """A process's resident memory (MB), from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """(status, body) of a GET, HTTP errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class LocalServer:
    """``latentatlas serve`` for ``models_dir`` on a free local port, ready when constructed (derived results
    cached in ``cache_dir`` when given)."""

    def __init__(
        self, models_dir: Path, log_path: Path, ready_timeout_s: float = 120.0, cache_dir: Path | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "latentatlas.cli",
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    "--models-dir",
                    str(models_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}
                | ({"LATENTATLAS_CACHE_DIR": str(cache_dir)} if cache_dir else {}),
            )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with code {self.process.returncode} before it was ready:\n{self.log()}"
                )
            try:
                if http_get(self.url + "/readyz", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server was not ready within {ready_timeout_s:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def json(self, path: str) -> dict:
        status, body = http_get(self.url + path, timeout=10)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {body[:300]!r}")
        return json.loads(body)

    def post_json(self, path: str, body: dict) -> dict:
        """The JSON reply of a POST of ``body`` (an HTTP error raises, with its text)."""
        request = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def wait_job(self, job_id: str, timeout_s: float = 300.0) -> dict:
        """Poll GET /api/jobs/{job_id} until it is no longer queued or running; its last state."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.json(f"/api/jobs/{job_id}")
            if job["status"] not in ("queued", "running"):
                return job
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} still running after {timeout_s:.0f} s")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def one_model_server(model_folder: Path, tmp_path_factory, **settings: object) -> Iterator[LocalServer]:
    """A LocalServer over a fresh models folder holding a copy of ``model_folder`` alone, started with
    ``LATENTATLAS_<NAME>=value`` for each of ``settings`` (the environment is restored afterwards)."""
    import pytest

    models = tmp_path_factory.mktemp("one-model")
    shutil.copytree(model_folder, models / model_folder.name)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(f"LATENTATLAS_{name}", str(value))
        with LocalServer(models, tmp_path_factory.mktemp("log") / "server.log") as running:
            yield running
