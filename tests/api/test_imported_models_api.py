"""Imported models served like any other: the shipped beta-VAE exported to ONNX and imported is
listed, encodes, decodes and traverses as the native model does, and hands the browser its own
decoder graph; saved latents are listed with their metrics and refuse what they cannot do (409)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from import_helpers import VAE_FOLDER, export_vae
from latentatlas.config import Settings
from latentatlas.data.spec import DatasetSpec
from latentatlas.imports import import_latents, import_onnx
from latentatlas.serve.app import create_app
from latentatlas.store.folders import load_model_folder

ONNX_ID, LATENTS_ID = "vae-onnx", "saved-latents"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A server over a models folder holding only the imported VAE and a saved-latents run."""
    root = tmp_path_factory.mktemp("imported")
    encoder, decoder = export_vae(root / "graphs")
    models = root / "models"
    import_onnx(encoder, decoder, DatasetSpec(name="dsprites"), models / ONNX_ID, latent_output="mu")
    rng = np.random.default_rng(0)
    y = np.stack([rng.integers(0, 3, 90), rng.integers(0, 6, 90)], axis=1)
    np.savez(
        root / "run.npz",
        z=(y + 0.1 * rng.standard_normal(y.shape)).astype(np.float32),
        y=y,
        factor_names=np.array(["shape", "scale"]),
    )
    import_latents(root / "run.npz", models / LATENTS_ID)
    settings = Settings(models_dir=models, torch_threads=1, onnx_cache_dir=root / "onnx-cache")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def native():
    return load_model_folder(VAE_FOLDER).model.eval()


def _png(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))), dtype=np.float32) / 255


def test_both_are_listed_with_their_capabilities(client):
    models = {model["id"]: model for model in client.get("/api/models").json()["models"]}
    assert set(models) == {ONNX_ID, LATENTS_ID}
    assert models[ONNX_ID]["kind"] == "onnx" and models[ONNX_ID]["latent_dim"] == 10
    assert models[ONNX_ID]["capabilities"]["decode"] and not models[ONNX_ID]["capabilities"]["train"]
    assert models[ONNX_ID]["heldout"]["psnr_db"] > 20
    latents = models[LATENTS_ID]
    assert not latents["capabilities"]["decode"] and not latents["capabilities"]["encode"]
    assert latents["metrics"]["factor_names"] == ["shape", "scale"] and latents["factor_sizes"] == [3, 6]
    assert latents["dim_names"] is not None


def test_encode_gives_the_native_latent(client, native):
    response = client.post(f"/api/models/{ONNX_ID}/encode", json={"dataset_index": 1234})
    assert response.status_code == 200, response.text
    from latentatlas.data.registry import load_dataset

    image = load_dataset(DatasetSpec(name="dsprites")).images(np.array([1234]))
    with torch.inference_mode():
        expected = native.encode(image).latent[0]
    assert np.abs(np.asarray(response.json()["latent"]) - expected.numpy()).max() <= 1e-4
    assert response.json()["reconstruction"].startswith("data:image/png")


def test_decode_and_traverse_match_the_native_model(client, native):
    latent = [0.5, -1.0, 0.0, 0.3, 0.0, 1.2, 0.0, -0.4, 0.0, 0.1]
    response = client.post(f"/api/models/{ONNX_ID}/decode", json={"latent": latent})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    decoded = np.asarray(Image.open(io.BytesIO(response.content)), dtype=np.float32) / 255
    with torch.inference_mode():
        expected = native.decode(torch.tensor([latent]))[0, 0].numpy()
    assert np.abs(decoded.reshape(expected.shape) - expected).max() <= 1 / 255 + 1e-4  # 8-bit PNG rounding
    traversal = client.post(f"/api/models/{ONNX_ID}/traverse", json={"latent": latent, "dims": [0, 3], "steps": 5})
    assert traversal.status_code == 200, traversal.text
    assert traversal.json()["dims"] == [0, 3] and _png(traversal.json()["image"]).shape[:2] == (128, 320)


def test_the_browser_gets_the_imported_decoder(client):
    manifest = client.get(f"/api/models/{ONNX_ID}/onnx")
    assert manifest.status_code == 200 and manifest.json()["available"], manifest.text
    graph = client.get(manifest.json()["parts"]["decoder"]["url"])
    assert graph.status_code == 200
    assert graph.content == (client.app.state.settings.models_dir / ONNX_ID / "decoder.onnx").read_bytes()


def test_saved_latents_refuse_what_they_cannot_do(client):
    decode = client.post(f"/api/models/{LATENTS_ID}/decode", json={"latent": [0.0, 0.0]})
    assert decode.status_code == 409 and "decode" in decode.json()["detail"]
    traverse = client.post(f"/api/models/{LATENTS_ID}/traverse", json={"latent": [0.0, 0.0], "steps": 3})
    assert traverse.status_code == 409
    upload = io.BytesIO()
    Image.new("L", (64, 64)).save(upload, format="PNG")
    encode = client.post(
        f"/api/models/{LATENTS_ID}/encode", files={"image": ("blank.png", upload.getvalue(), "image/png")}
    )
    assert encode.status_code == 409 and "encode" in encode.json()["detail"]


def test_saved_latents_export_their_metric_tables(client):
    tables = client.get(f"/api/models/{LATENTS_ID}/metrics/export", params={"format": "json"})
    assert tables.status_code == 200, tables.text
    body = tables.json()
    assert body["factor_names"] == ["shape", "scale"] and len(body["matrices"]["infomec_nmi"]) == 2
    assert all(len(row) == 2 for row in body["matrices"]["infomec_nmi"])
