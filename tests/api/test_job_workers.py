"""A metrics job's worker processes die with a real server (``latentatlas serve``), however it is
stopped: SIGTERM or SIGKILL in the middle of a job leaves no orphan computing on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from devtools import LocalServer


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc, Linux)."""
    found, frontier = set(), [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(child) for child in (task / "children").read_text().split()}
            except OSError:
                continue
            frontier.extend(children - found)
            found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_job_workers_die_with_the_server(models_dir, ids, tmp_path, monkeypatch, stop):
    served = tmp_path / "models"
    shutil.copytree(models_dir / ids.qlae, served / ids.qlae)
    monkeypatch.setenv("LATENTATLAS_TORCH_THREADS", "2")  # two worker processes fit exact DCI
    with LocalServer(served, tmp_path / "server.log") as server:
        request = urllib.request.Request(
            server.url + f"/api/models/{ids.qlae}/metrics",
            data=json.dumps({"samples": 6000}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        deadline, workers = time.monotonic() + 120, set()
        while time.monotonic() < deadline and len(workers) < 2:
            workers = {
                pid
                for pid in _descendants(server.pid)
                if "loky" in _cmdline(pid) and "resource_tracker" not in _cmdline(pid)
            }
            time.sleep(0.2)
        assert len(workers) >= 2, f"no job workers started:\n{server.log()}"
        everything = _descendants(server.pid)
        os.kill(server.pid, stop)
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in everything):
            time.sleep(0.2)
        left = [f"{pid}: {_cmdline(pid)[:120]}" for pid in everything if _alive(pid)]
    assert not left, left


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
