"""Limits that only a real server shows (``latentatlas serve``, uvicorn, raw sockets): a client
that stalls mid-body is dropped with 408 after the body timeout instead of holding its
connection for ever, and the server keeps answering everyone else meanwhile."""

from __future__ import annotations

import socket
import time

import pytest

from devtools import http_get, one_model_server

BODY_TIMEOUT_S = 1.0
UPLOAD_LIMIT = 100_000


@pytest.fixture(scope="module")
def server(models_dir, ids, tmp_path_factory):
    limits = {"BODY_TIMEOUT_SECONDS": BODY_TIMEOUT_S, "MAX_UPLOAD_BYTES": UPLOAD_LIMIT}
    with one_model_server(models_dir / ids.qlae, tmp_path_factory, **limits) as running:
        yield running


def _stalled_upload(server, ids) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (
        f"POST /api/models/{ids.qlae}/encode HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'--x\r\nContent-Disposition: form-data; name="image"\r\n')
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


@pytest.mark.parametrize("declared", [True, False])
def test_an_oversize_upload_reads_413_with_a_client_that_sends_everything_first(server, ids, declared):
    """urllib writes the whole body before it reads: the server drains it and answers 413
    (with or without a Content-Length), instead of resetting the connection."""
    import urllib.error
    import urllib.request

    body = b"--x\r\n" + b"\x00" * (10 * UPLOAD_LIMIT)
    headers = {"Content-Type": "multipart/form-data; boundary=x"}
    data = body if declared else iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    if not declared:
        headers["Transfer-Encoding"] = "chunked"
    request = urllib.request.Request(
        server.url + f"/api/models/{ids.qlae}/encode", data=data, headers=headers, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=20)
    assert refused.value.code == 413
    assert b"upload limit" in refused.value.read()
