"""``latentatlas.explore(..., block=False)``: the session's model served by the real app on a real
port of 127.0.0.1 (uvicorn on a background thread), answered with the session's own encoder and
decoder, and the port freed by ``close()``."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from api_assertions import assert_detail
from PIL import Image

from devtools import free_port
from explore_models import LATENT_DIM, SIZE, function_pair, linear_pair
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.imaging import to_png

SPEC = DatasetSpec(name="dsprites", image_size=SIZE, holdout=200)
ENCODER, DECODER = linear_pair()


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image)


def data_url_pixels(url: str) -> np.ndarray:
    import base64

    return pixels(base64.b64decode(url.split(",", 1)[1]))


@pytest.fixture(scope="module")
def served():
    import latentatlas

    handle = latentatlas.explore(ENCODER, DECODER, dataset="dsprites", image_size=SIZE, port=free_port(), block=False)
    with handle, httpx.Client(base_url=handle.url, timeout=30) as client:
        yield handle, client


def test_the_model_is_listed_with_its_latent_size_and_capabilities(served):
    handle, client = served
    assert handle.url.startswith("http://127.0.0.1:")
    models = client.get("/api/models").json()["models"]
    assert [m["id"] for m in models] == [handle.model_id] == ["sequential"]  # the shipped models are not served
    model = models[0]
    described = (model["latent_dim"], model["image_size"], model["channels"], model["kind"])
    assert described == (LATENT_DIM, SIZE, 1, "python")
    assert {name: model["capabilities"][name] for name in ("encode", "decode", "train")} == {
        "encode": True,
        "decode": True,
        "train": False,
    }
    assert len(model["latent_mean"]) == len(model["latent_std"]) == LATENT_DIM
    assert min(model["latent_std"]) > 0
    assert client.get("/readyz").json()["status"] == "ready"


def test_encode_decode_and_traverse_answer_with_the_sessions_networks(served):
    handle, client = served
    base = f"/api/models/{handle.model_id}"
    encoded = client.post(f"{base}/encode", json={"dataset_index": 5})
    assert encoded.status_code == 200, encoded.text
    image = load_dataset(SPEC).images(np.array([5]))
    with torch.no_grad():
        assert encoded.json()["latent"] == pytest.approx(ENCODER(image)[0].tolist(), abs=1e-5)
        latent = torch.tensor([[0.3, -0.2, 0.1]])
        expected = pixels(to_png(DECODER(latent)[0]))
    decoded = client.post(f"{base}/decode", json={"latent": latent[0].tolist()})
    assert (decoded.status_code, decoded.headers["content-type"]) == (200, "image/png")
    assert np.array_equal(pixels(decoded.content), expected)
    traversal = client.post(f"{base}/traverse", json={"latent": latent[0].tolist(), "dims": [0, 2], "steps": 5})
    assert traversal.status_code == 200, traversal.text
    assert data_url_pixels(traversal.json()["image"]).shape == (2 * SIZE, 5 * SIZE)
    # the app decodes on the server (the session's code), and the manifest says why
    manifest = client.get(f"{base}/onnx").json()
    assert not manifest["available"]
    assert "held in memory" in manifest["unavailable"]["decoder"]


def test_close_stops_the_server_and_frees_the_port():
    import latentatlas

    encode, render = function_pair()  # plain functions serve as well as modules
    port = free_port()
    handle = latentatlas.explore(encode, render, dataset=SPEC, port=port, block=False, name="Plain functions")
    assert handle.url == f"http://127.0.0.1:{port}/"
    models = httpx.get(f"{handle.url}api/models").json()["models"]
    assert [(m["id"], m["latent_dim"]) for m in models] == [("plain-functions", LATENT_DIM)]
    png = httpx.post(f"{handle.url}api/models/plain-functions/decode", json={"latent": [0.0, 1.0, 0.0]}).content
    assert np.array_equal(pixels(png), pixels(to_png(render(torch.tensor([[0.0, 1.0, 0.0]]))[0])))
    handle.close()
    assert not handle.running
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens
    # the port serves again at once
    with latentatlas.explore(encode, dataset=SPEC, port=port, block=False) as again:
        assert httpx.get(f"{again.url}healthz").status_code == 200


def test_an_encoder_only_model_lists_no_decoder_and_refuses_decodes_with_409(tmp_path):
    import latentatlas

    encode, _ = function_pair()
    (tmp_path / "models").mkdir()
    with latentatlas.explore(encode, dataset=SPEC, port=0, block=False, models_dir=tmp_path / "models") as handle:
        base = f"{handle.url}api/models/{handle.model_id}"
        (model,) = httpx.get(f"{handle.url}api/models").json()["models"]
        assert (model["capabilities"]["encode"], model["capabilities"]["decode"]) == (True, False)
        assert model["latent_dim"] == LATENT_DIM
        zeros = [0.0] * LATENT_DIM
        assert_detail(httpx.post(f"{base}/decode", json={"latent": zeros}), 409, "no decoder", "capabilities.decode")
        assert_detail(httpx.post(f"{base}/traverse", json={"latent": [0.0] * LATENT_DIM}), 409, "no decoder")
        assert_detail(httpx.post(f"{base}/decode", json={"latent": [0.0]}), 422, "expects 3")
        assert httpx.get(f"{base}/samples", params={"n": 2, "seed": 0}).status_code == 200
    assert list((tmp_path / "models").iterdir()) == []  # nothing written to the models folder


def test_block_true_serves_in_the_foreground_until_ctrl_c():
    port = free_port()
    script = (
        "import latentatlas; from explore_models import function_pair; "
        f"latentatlas.explore(function_pair()[0], dataset='dsprites', image_size={SIZE}, port={port}); print('closed')"
    )
    tests = str(Path(__file__).resolve().parents[1])  # explore_models lives with the tests
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=environment)
    try:
        line = process.stdout.readline()
        assert f"at http://127.0.0.1:{port}/ (Ctrl-C stops)" in line
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.stdout.readline().strip() == "closed"
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
