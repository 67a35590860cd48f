"""Memory per upload: how much one image upload, and eight at once, add to the server's RSS.

Starts ``latentatlas serve`` (127.0.0.1, the repository's models) and posts, to a 64x64 model's
/encode: the largest PNG the default limits accept (16 megapixels, decoded at full size and
reduced at once), a 12-megapixel photo JPEG (decoded shrunk by the JPEG decoder), and the
amplification case (a ~150 KB PNG declaring 6300 x 6300 pixels, refused from its header). For
each: the RSS growth after one upload, and the peak growth while 8 are sent at once (sampled
every 10 ms from /proc). Targets (issue 11): one upload adds <= 100 MB; 8 at once stay under
1 GB above idle. Writes JSON (default bench/results/upload_memory.json).

    .venv/bin/python bench/upload_memory.py [--model qlae-dsprites] [--out PATH]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import LocalServer, machine_info, rss_mb
from latentatlas.store.folders import write_json

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "upload_memory.json"
TARGETS = {"one_upload_mb": 100, "eight_at_once_mb": 1024}


def image_bytes(width: int, height: int, fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 255, (height // 100, width // 100, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    small.resize((width, height), Image.Resampling.NEAREST).save(
        buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {})
    )
    return buffer.getvalue()


def post(url: str, data: bytes, name: str) -> int:
    boundary = "latentatlasbench"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def peak_growth(server: LocalServer, work) -> tuple[float, object]:
    """Peak RSS growth (MB, sampled every 10 ms) while ``work()`` runs, and its result."""
    idle = rss_mb(server.pid)
    peak, stop = [idle], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(rss_mb(server.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = work()
    finally:
        stop.set()
        sampler.join()
    return round(max(peak) - idle, 1), result


def measure(server: LocalServer, url: str, data: bytes, name: str) -> dict:
    one, status = peak_growth(server, lambda: post(url, data, name))
    with ThreadPoolExecutor(8) as pool:
        eight, statuses = peak_growth(server, lambda: list(pool.map(lambda _: post(url, data, name), range(8))))
    return {
        "bytes": len(data),
        "status": status,
        "statuses_of_8": statuses,
        "one_upload_peak_mb": one,
        "eight_at_once_peak_mb": eight,
        "idle_mb": round(rss_mb(server.pid), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qlae-dsprites")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    load_before = os.getloadavg()
    cases = {
        "png_16mp_largest_accepted": (image_bytes(4000, 4000, "PNG"), "big.png"),
        "jpeg_12mp_photo": (image_bytes(4000, 3000, "JPEG"), "photo.jpg"),
        "png_6300x6300_amplification": (image_bytes(6300, 6300, "PNG"), "bomb.png"),
    }
    with tempfile.TemporaryDirectory() as tmp, LocalServer(REPO_ROOT / "models", Path(tmp) / "server.log") as server:
        url = f"{server.url}/api/models/{args.model}/encode"
        post(url, cases["jpeg_12mp_photo"][0], "warm.jpg")  # first-use allocations out of the way
        results = {name: measure(server, url, data, filename) for name, (data, filename) in cases.items()}
    report = {
        "benchmark": "upload_memory",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(load_before),
        "model": args.model,
        "targets": TARGETS,
        "cases": results,
    }
    write_json(args.out, report)
    for name, result in results.items():
        print(
            f"{name}: {result['bytes'] / 1e3:.0f} KB -> {result['status']}; one upload peak +{result['one_upload_peak_mb']} MB, "
            f"8 at once peak +{result['eight_at_once_peak_mb']} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
