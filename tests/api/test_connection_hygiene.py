"""Cheap clients cannot take a real server (``latentatlas serve``) down: idle and half-open
sockets are timed out and evicted, slow or huge bodies are refused without holding an inference
slot, live sessions are bounded and idle ones closed, and a duplicated Host is not trusted."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from devtools import http_get, one_model_server

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 24
INFLIGHT = 4
JSON_LIMIT = 16 * 1024
UPLOAD_LIMIT = 100_000
LIVE_PER_CLIENT = 2
LIVE_IDLE_S = 1.0


@pytest.fixture(scope="module")
def server(models_dir, ids, tmp_path_factory):
    limits = {
        "HEADER_TIMEOUT_SECONDS": HEADER_TIMEOUT_S,
        "BODY_TIMEOUT_SECONDS": BODY_TIMEOUT_S,
        "BODY_MIN_RATE": 1024,
        "MAX_CONNECTIONS": MAX_CONNECTIONS,
        "MAX_INFLIGHT_TOTAL": INFLIGHT,
        "MAX_JSON_BYTES": JSON_LIMIT,
        "MAX_UPLOAD_BYTES": UPLOAD_LIMIT,
        "MAX_LIVE_SESSIONS_PER_CLIENT": LIVE_PER_CLIENT,
        "LIVE_IDLE_SECONDS": LIVE_IDLE_S,
        "TORCH_THREADS": 1,
    }
    with one_model_server(models_dir / ids.qlae, tmp_path_factory, **limits) as running:
        yield running


@pytest.fixture(scope="module")
def latent(server, ids) -> list[float]:
    return server.json(f"/api/models/{ids.qlae}")["latent_mean"]


def _open(server, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    started, reply = time.monotonic(), b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    return reply, time.monotonic() - started


def _post_head(server, path: str, length: int, content_type: str = "application/json") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _decode(server, ids, latent, timeout: float = 10.0) -> int:
    request = urllib.request.Request(
        server.url + f"/api/models/{ids.qlae}/decode",
        data=json.dumps({"latent": latent}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("first_bytes", [b"", b"GET /healthz HTTP/1.1\r\nHost: 127.0"], ids=["idle", "partial-headers"])
def test_a_connection_without_complete_headers_is_closed_after_the_header_timeout(server, first_bytes):
    reply, waited = _read_until_closed(_open(server, first_bytes))
    assert reply == b""
    assert HEADER_TIMEOUT_S * 0.8 <= waited < HEADER_TIMEOUT_S + 3


def test_idle_sockets_beyond_the_budget_do_not_lock_out_health(server, ids):
    held = [_open(server, b"GET / HTTP/1.1\r\n" if i % 2 else b"") for i in range(MAX_CONNECTIONS + 8)]
    try:
        for path in ("/healthz", "/readyz", f"/api/models/{ids.qlae}"):
            started = time.monotonic()
            status, _ = http_get(server.url + path, timeout=5)
            assert status == 200, path
            assert time.monotonic() - started < 1.0
    finally:
        for sock in held:
            sock.close()


def test_crawling_bodies_beyond_the_budget_do_not_lock_out_health(server, ids):
    head = _post_head(server, f"/api/models/{ids.qlae}/decode", 10_000)
    held = [_open(server, head + b" ") for _ in range(MAX_CONNECTIONS + 4)]
    try:
        started = time.monotonic()
        assert http_get(server.url + "/healthz", timeout=5)[0] == 200
        assert time.monotonic() - started < 1.0
    finally:
        for sock in held:
            sock.close()


def test_a_trickling_json_body_is_dropped_with_408(server, ids):
    sock = _open(server, _post_head(server, f"/api/models/{ids.qlae}/decode", 10_000))
    started = time.monotonic()
    for _ in range(int(6 / 0.25)):  # one byte every 0.25 s: each arrives before any per-chunk timeout
        try:
            sock.sendall(b" ")
        except OSError:
            break
        time.sleep(0.25)
        if time.monotonic() - started > 6:
            break
    reply, _ = _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert time.monotonic() - started < BODY_TIMEOUT_S + 5


def test_stalled_bodies_take_no_inference_slot(server, ids, latent):
    stalled = [
        _open(server, _post_head(server, f"/api/models/{ids.qlae}/decode", 1000) + b'{"latent": [')
        for _ in range(INFLIGHT + 2)
    ]
    try:
        time.sleep(0.3)
        assert _decode(server, ids, latent) == 200
    finally:
        for sock in stalled:
            sock.close()


def test_a_declared_huge_json_body_is_refused_without_waiting_for_it(server, ids):
    sock = _open(server, _post_head(server, f"/api/models/{ids.qlae}/decode", 1 << 30) + b"{" * 1024)
    reply, waited = _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"JSON body limit" in reply
    assert waited < BODY_TIMEOUT_S + 5


def test_an_oversize_json_body_without_a_length_is_refused_while_read(server, ids, latent):
    body = json.dumps({"latent": latent, "padding": "x" * (2 * JSON_LIMIT)}).encode()
    chunks = iter([body[i : i + 4096] for i in range(0, len(body), 4096)])
    request = urllib.request.Request(
        server.url + f"/api/models/{ids.qlae}/decode",
        data=chunks,
        method="POST",
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    assert len(refused.value.read()) < 500


def test_an_upload_far_over_64_mb_reads_413_with_urllib(server, ids):
    body = b"--x\r\n" + b"\x00" * (70 * 1024 * 1024)
    request = urllib.request.Request(
        server.url + f"/api/models/{ids.qlae}/encode",
        data=body,
        method="POST",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413


def test_live_sessions_are_bounded_per_client_and_idle_ones_closed(server, ids):
    url = f"ws://127.0.0.1:{server.port}/api/models/{ids.qlae}/live"
    with ExitStack() as stack:
        sessions = [stack.enter_context(connect(url, open_timeout=5)) for _ in range(LIVE_PER_CLIENT)]
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=5)
        assert refused.value.response.status_code == 503
        started = time.monotonic()
        for session in sessions:
            with pytest.raises(ConnectionClosed):
                session.recv(timeout=LIVE_IDLE_S + 5)
            assert session.close_code == 4408
        assert time.monotonic() - started < LIVE_IDLE_S + 3
    with connect(url, open_timeout=5) as again:  # the closed sessions were released
        again.send(json.dumps({"latent": [0.0], "seq": 1}))
        assert json.loads(again.recv(timeout=5))["seq"] == 1


def test_a_duplicated_host_cannot_vouch_for_a_cross_origin_write(server, ids, latent):
    body = json.dumps({"latent": latent}).encode()
    head = (
        f"POST /api/models/{ids.qlae}/decode HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nHost: evil.example\r\n"
        f"Origin: http://evil.example\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    reply, _ = _read_until_closed(_open(server, head + body))
    assert reply.split(b"\r\n", 1)[0] in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 403 Forbidden"), reply[:200]


def test_the_log_has_time_level_and_logger_and_the_promised_events(server):
    """Runs last in this module: the attacks above have been logged by then."""
    lines = server.log_path.read_text(errors="replace").splitlines()
    stamped = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")
    ours = [line for line in lines if " latentatlas" in line]
    assert ours and all(stamped.match(line) for line in ours), ours[:5]
    for event in (
        "loaded model",
        "refused a cross-origin",
        "dropped a slow body",
        "no complete request headers",
        "refused a live session",
        "closed a live session",
        "refused an oversize body",
    ):
        assert any(event in line for line in ours), f"no {event!r} line in:\n" + "\n".join(ours[-30:])


def test_a_websocket_with_a_10000_character_model_id_is_answered_at_once(server):
    started = time.monotonic()
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{server.port}/api/models/{'x' * 10_000}/live", open_timeout=5)
    assert refused.value.response.status_code == 414
    assert time.monotonic() - started < 2
