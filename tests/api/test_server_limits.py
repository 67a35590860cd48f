"""Limits that only a real server shows (``latentatlas serve``, uvicorn, raw sockets): a client
that stalls mid-body is dropped with 408 after the body timeout instead of holding its
connection for ever, and the server keeps answering everyone else meanwhile."""

from __future__ import annotations

import shutil
import socket
import time

import pytest

from latentatlas.devtools import LocalServer, http_get

BODY_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(models_dir, ids, tmp_path_factory):
    healthy = tmp_path_factory.mktemp("healthy-models")
    shutil.copytree(models_dir / ids.qlae, healthy / ids.qlae)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LATENTATLAS_BODY_TIMEOUT_SECONDS", str(BODY_TIMEOUT_S))
        with LocalServer(healthy, tmp_path_factory.mktemp("log") / "server.log") as running:
            yield running


def _stalled_upload(server, ids) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (
        f"POST /api/models/{ids.qlae}/encode HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n"
    )
    sock.sendall(head.encode() + b"--x\r\nContent-Disposition: form-data; name=\"image\"\r\n")
    return sock


def test_a_client_stalling_mid_body_is_dropped(server, ids):
    sock = _stalled_upload(server, ids)
    started = time.monotonic()
    reply = b""
    while True:  # read until the server closes the connection
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    waited = time.monotonic() - started
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"stalled" in reply
    assert BODY_TIMEOUT_S * 0.8 <= waited < BODY_TIMEOUT_S + 5


def test_stalled_clients_do_not_lock_out_the_others(server, ids):
    stalled = [_stalled_upload(server, ids) for _ in range(20)]
    try:
        status, _ = http_get(server.url + "/healthz", timeout=5)
        assert status == 200
        status, _ = http_get(server.url + f"/api/models/{ids.qlae}", timeout=5)
        assert status == 200
    finally:
        for sock in stalled:
            sock.close()
    assert "Traceback" not in server.log()
