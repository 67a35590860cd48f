"""Cheap attacks against a real server, and what a legitimate client saw meanwhile.

Starts ``latentatlas serve`` on a free port of 127.0.0.1 serving one model of ``models/`` (a
copy) and runs, one after the other for ``--seconds`` each: idle TCP sockets, sockets trickling
partial headers, JSON bodies and uploads trickling one byte a second, big JSON bodies (declared
1 GB with 1 KB sent, and 5 MB sent whole), and a WebSocket swarm. Each attack holds at most
``--sockets`` connections (re-opening those the server closes) from this one process; a
legitimate client meanwhile asks ``/healthz`` every 100 ms and decodes a latent over HTTP
every 250 ms. Per attack it records that client's statuses and latencies and what the attacker
saw (sockets the server closed, statuses). Everything goes to 127.0.0.1 and stops by itself.
Writes JSON (default bench/results/adversarial.json).

    .venv/bin/python bench/adversarial.py [--seconds 15] [--sockets 300] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the dev-only helpers live with the tests
from devtools import HOST, LocalServer, machine_info, percentiles, rss_mb, write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "adversarial.json"
MODEL = "qlae-dsprites"


class Legitimate:
    """The client every attack must not lock out: health every 100 ms, a decode every 250 ms."""

    def __init__(self, url: str, latent: list[float]) -> None:
        self.url, self.body = url, json.dumps({"latent": latent}).encode()
        self.stop = threading.Event()
        self.seen: dict[str, list[tuple[int, float]]] = {"healthz": [], "decode": []}

    def _timed(self, name: str, request: urllib.request.Request | str) -> None:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 0  # no answer within 10 s, or the connection failed
        self.seen[name].append((status, (time.perf_counter() - started) * 1000))

    def _loop(self, name: str, period: float, request: Callable[[], urllib.request.Request | str]) -> None:
        while not self.stop.is_set():
            self._timed(name, request())
            self.stop.wait(period)

    def run(self) -> list[threading.Thread]:
        decode = lambda: urllib.request.Request(  # noqa: E731
            self.url + f"/api/models/{MODEL}/decode",
            data=self.body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        threads = [
            threading.Thread(target=self._loop, args=("healthz", 0.1, lambda: self.url + "/healthz"), daemon=True),
            threading.Thread(target=self._loop, args=("decode", 0.25, decode), daemon=True),
        ]
        for thread in threads:
            thread.start()
        return threads

    def summary(self) -> dict:
        return {
            name: {"statuses": dict(Counter(str(s) for s, _ in seen)), "ms": percentiles([ms for _, ms in seen])}
            for name, seen in self.seen.items()
        }


class SocketHolder:
    """Holds ``count`` connections, each opened with ``opening`` bytes and fed ``drip`` every
    ``period`` seconds; re-opens the ones the server closes, counting them and its replies."""

    def __init__(
        self, port: int, count: int, opening: Callable[[], bytes], drip: bytes = b"", period: float = 1.0
    ) -> None:
        self.port, self.count, self.opening, self.drip, self.period = port, count, opening, drip, period
        self.closed_by_server, self.replies, self.open_failures = 0, Counter(), 0

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((HOST, self.port), timeout=2)
            first = self.opening()
            if first:
                sock.sendall(first)
            sock.setblocking(False)
            return sock
        except OSError:
            self.open_failures += 1
            return None

    def _closed(self, sock: socket.socket) -> bool:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if data:
            self.replies[data.split(b"\r\n", 1)[0].decode(errors="replace")[:40]] += 1
            return False
        return True

    def hold(self, seconds: float) -> None:
        sockets = [s for s in (self._open() for _ in range(self.count)) if s is not None]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for i, sock in enumerate(sockets):
                if self._closed(sock):
                    sock.close()
                    self.closed_by_server += 1
                    sockets[i] = self._open() or sock
                elif self.drip:
                    with suppress(OSError):
                        sock.send(self.drip)
            time.sleep(self.period)
        for sock in sockets:
            sock.close()

    def summary(self) -> dict:
        return {
            "held": self.count,
            "closed_by_server": self.closed_by_server,
            "open_failures": self.open_failures,
            "replies": dict(self.replies),
        }


def _post_head(port: int, path: str, length: int, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def websocket_swarm(port: int, count: int, seconds: float) -> dict:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url, statuses = f"ws://{HOST}:{port}/api/models/{MODEL}/live", Counter()
    deadline = time.monotonic() + seconds
    with ExitStack() as held:
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            try:
                held.enter_context(connect(url, open_timeout=2))
                statuses["101"] += 1
            except InvalidStatus as error:
                statuses[str(error.response.status_code)] += 1
            except (OSError, TimeoutError):
                statuses["failed"] += 1
        time.sleep(max(0.0, deadline - time.monotonic()))
    return {"attempted": count, "statuses": dict(statuses)}


def big_json(port: int, seconds: float) -> dict:
    """8 clients in turn: a body declared as 1 GB with 1 KB sent, and a 5 MB JSON body sent whole."""
    path, statuses, waits = f"/api/models/{MODEL}/decode", Counter(), []
    deadline = time.monotonic() + seconds

    def one(declared: int, payload: bytes) -> None:
        started = time.monotonic()
        try:
            with socket.create_connection((HOST, port), timeout=30) as sock:
                sock.sendall(_post_head(port, path, declared, "application/json") + payload)
                reply = sock.recv(100)
            statuses[reply.split(b"\r\n", 1)[0].decode(errors="replace")[:40] or "closed"] += 1
        except OSError as error:
            statuses[type(error).__name__] += 1
        waits.append((time.monotonic() - started) * 1000)

    big = b'{"latent": [' + b"0.0, " * (1 << 20) + b"0.0]}"
    while time.monotonic() < deadline:
        threads = [
            threading.Thread(target=one, args=((1 << 30, b"{" * 1024) if i % 2 else (len(big), big))) for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return {"statuses": dict(statuses), "answer_ms": percentiles(waits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--sockets", type=int, default=300)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(REPO_ROOT / "models" / MODEL, Path(tmp) / "models" / MODEL)
        os.environ.setdefault("LATENTATLAS_STATE_DIR", str(Path(tmp) / "state"))
        with LocalServer(Path(tmp) / "models", Path(tmp) / "server.log") as server:
            latent = server.json(f"/api/models/{MODEL}")["latent_mean"]
            port, n = server.port, args.sockets
            partial_headers = f"GET /healthz HTTP/1.1\r\nHost: {HOST}".encode()
            json_head = partial(_post_head, port, f"/api/models/{MODEL}/decode", 10_000, "application/json")
            upload_head = partial(
                _post_head, port, f"/api/models/{MODEL}/encode", 100_000, "multipart/form-data; boundary=x"
            )
            attacks: dict[str, Callable[[], dict]] = {
                "baseline (no attack)": lambda: (time.sleep(args.seconds), {})[1],
                f"{n} idle sockets": lambda: _held(SocketHolder(port, n, lambda: b""), args.seconds),
                f"{n} sockets trickling partial headers": lambda: _held(
                    SocketHolder(port, n, lambda: partial_headers, b"X"), args.seconds
                ),
                f"{n // 2} JSON bodies + {n // 2} uploads trickling 1 byte/s": lambda: _slow_bodies(
                    port, n, json_head, upload_head, args.seconds
                ),
                "big JSON (1 GB declared, 5 MB sent)": lambda: big_json(port, args.seconds),
                f"{n} WebSocket sessions": lambda: websocket_swarm(port, n, args.seconds),
            }
            results = {}
            for name, attack in attacks.items():
                legit = Legitimate(server.url, latent)
                threads = legit.run()
                rss_before = rss_mb(server.pid)
                attacker = attack()
                legit.stop.set()
                for thread in threads:
                    thread.join()
                results[name] = {
                    "legitimate_client": legit.summary(),
                    "attacker": attacker,
                    "server_rss_mb": [round(rss_before, 1), round(rss_mb(server.pid), 1)],
                }
                print(name, json.dumps(results[name]["legitimate_client"]), flush=True)
                time.sleep(1.0)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(load_before),
        "seconds_per_attack": args.seconds,
        "attacks": results,
    }
    write_report(args.out, report)


def _held(holder: SocketHolder, seconds: float) -> dict:
    holder.hold(seconds)
    return holder.summary()


def _slow_bodies(
    port: int, n: int, json_head: Callable[[], bytes], upload_head: Callable[[], bytes], seconds: float
) -> dict:
    holders = [SocketHolder(port, n // 2, json_head, b" "), SocketHolder(port, n // 2, upload_head, b"x")]
    threads = [threading.Thread(target=holder.hold, args=(seconds,)) for holder in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"json": holders[0].summary(), "uploads": holders[1].summary()}


if __name__ == "__main__":
    main()
