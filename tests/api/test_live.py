"""WebSocket /api/models/{id}/live: latents in, PNG frames out, latest wins under a burst,
errors answered without dropping the connection, unknown models closed with 4404."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from latentatlas.serve.app import create_app

BURST = 30


def _live(client, model_id: str):
    return client.websocket_connect(f"/api/models/{model_id}/live")


def _png(url: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return base64.b64decode(url[len(prefix) :])


def test_a_latent_gets_a_frame(client, ids, model_infos, data_url_image):
    latent = model_infos[ids.qlae]["latent_mean"]
    with _live(client, ids.qlae) as ws:
        ws.send_json({"latent": latent, "seq": 1})
        reply = ws.receive_json()
    assert set(reply) == {"seq", "image", "ms"}
    assert reply["seq"] == 1
    assert isinstance(reply["ms"], (int, float)) and reply["ms"] >= 0
    image = data_url_image(reply["image"])
    assert image.size == (32, 32) and image.mode == "L"
    # The same pixels as the HTTP decode of that latent.
    decoded = client.post(f"/api/models/{ids.qlae}/decode", json={"latent": latent})
    assert _png(reply["image"]) == decoded.content


def test_colour_model_frames_and_messages_without_seq(client, ids, model_infos, data_url_image):
    with _live(client, ids.vae) as ws:
        ws.send_text(json.dumps({"latent": model_infos[ids.vae]["latent_min"]}))
        reply = ws.receive_json()
    assert reply["seq"] is None
    assert data_url_image(reply["image"]).mode == "RGB"


def test_burst_latest_wins(client, ids, model_infos):
    info = model_infos[ids.vae]
    low, high = info["latent_min"], info["latent_max"]
    latents = [[lo + (hi - lo) * i / (BURST - 1) for lo, hi in zip(low, high)] for i in range(BURST)]
    with _live(client, ids.vae) as ws:
        for seq, latent in enumerate(latents):
            ws.send_json({"latent": latent, "seq": seq})  # without waiting for replies
        replies = []
        while not replies or replies[-1].get("seq") != BURST - 1:
            replies.append(ws.receive_json())
            assert len(replies) <= BURST, replies
        # The connection is still live afterwards.
        ws.send_json({"latent": latents[0], "seq": BURST})
        after = ws.receive_json()
    assert all("image" in reply and "error" not in reply for reply in replies)
    seqs = [reply["seq"] for reply in replies]
    assert seqs == sorted(set(seqs))  # strictly increasing: stale latents are dropped, never replayed out of order
    assert seqs[-1] == BURST - 1  # the final reply is for the final latent
    assert 1 <= len(replies) <= BURST
    assert after["seq"] == BURST and "image" in after


@pytest.mark.parametrize(
    ("message", "seq", "keyword"),
    [
        ("this is not json", None, "JSON"),
        ('{"latent": [0, 0, 0], "seq": 7}', 7, "3 values"),
        ('{"latent": [NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0], "seq": 8}', 8, "finite"),
        ('{"latent": ["a", 0, 0, 0, 0, 0, 0, 0, 0, 0], "seq": 9}', 9, "latent"),
        ('{"latent": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "seq": 10, "extra": true}', 10, "extra"),
        ('{"seq": 11}', 11, "latent"),
        ("[1, 2, 3]", None, "invalid"),
        ("42", None, "invalid"),
    ],
)
def test_bad_messages_get_errors_and_the_connection_keeps_working(client, ids, model_infos, message, seq, keyword):
    with _live(client, ids.qlae) as ws:
        ws.send_text(message)
        error = ws.receive_json()
        assert "image" not in error
        assert isinstance(error["error"], str) and keyword.lower() in error["error"].lower(), error
        assert error["seq"] == seq
        ws.send_json({"latent": model_infos[ids.qlae]["latent_mean"], "seq": 100})
        reply = ws.receive_json()
    assert reply["seq"] == 100 and reply["image"].startswith("data:image/png;base64,")


def test_unknown_model_closes_with_4404(client):
    with _live(client, "no-such-model") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404
    assert "no-such-model" in (closed.value.reason or "")


def test_a_very_long_unknown_id_is_refused_too(client):
    """The close reason is bounded (a WebSocket close frame holds 123 bytes of reason)."""
    with _live(client, "x" * 10_000) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404
    assert len((closed.value.reason or "").encode()) <= 123


def test_a_broken_model_is_unknown_too(client, ids):
    with _live(client, ids.broken[0]) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404


def test_server_still_serves_after_live_sessions(client, ids, model_infos):
    assert client.get("/healthz").status_code == 200
    with _live(client, ids.qlae) as ws:
        ws.send_json({"latent": model_infos[ids.qlae]["latent_max"], "seq": 0})
        assert ws.receive_json()["seq"] == 0


def test_binary_frames_get_an_error_and_the_connection_keeps_working(settings, ids, model_infos):
    # A private client: the handler's exception must not disturb the shared one.
    with TestClient(create_app(settings)) as private:
        with _live(private, ids.qlae) as ws:
            ws.send_bytes(b"\x00\x01binary")
            error = ws.receive_json()
            assert "error" in error
            ws.send_json({"latent": model_infos[ids.qlae]["latent_mean"], "seq": 1})
            assert ws.receive_json()["seq"] == 1
