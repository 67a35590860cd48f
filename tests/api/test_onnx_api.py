"""/api/models/{id}/onnx: the manifest and the graph files the app decodes with in the browser."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import onnxruntime
from fastapi.testclient import TestClient
from PIL import Image

from latentatlas.config import Settings
from latentatlas.serve.app import create_app


def test_manifest_lists_both_graphs_with_their_agreement(client, ids, model_infos):
    reply = client.get(f"/api/models/{ids.qlae}/onnx")
    assert reply.status_code == 200
    manifest = reply.json()
    assert manifest["available"] is True and manifest["unavailable"] == {}
    assert manifest["latent_dim"] == model_infos[ids.qlae]["latent_dim"] == 10
    assert manifest["image_shape"] == [1, 32, 32]
    assert manifest["truncate_by_zeroing"] is False
    for name, io_names in {"decoder": ("latent", "image"), "encoder": ("image", "latent")}.items():
        part = manifest["parts"][name]
        assert (part["input"], part["output"]) == io_names
        assert part["max_abs_error"] <= 1e-3
        assert part["url"].startswith(f"/api/models/{ids.qlae}/onnx/{name}.onnx?v=")
    # the sweeps are the ones /traverse decodes: the sorted codebooks of a quantised model
    codebooks = model_infos[ids.qlae]["codebooks"]
    assert [s["values"] for s in manifest["sweeps"]] == [sorted(c) for c in codebooks]


def test_the_decoder_file_decodes_like_the_server(client, ids, model_infos):
    manifest = client.get(f"/api/models/{ids.vae}/onnx").json()
    reply = client.get(manifest["parts"]["decoder"]["url"])
    assert reply.status_code == 200
    assert hashlib.sha256(reply.content).hexdigest() == manifest["parts"]["decoder"]["sha256"]
    latent = np.asarray(model_infos[ids.vae]["latent_mean"], dtype=np.float32)[None]
    session = onnxruntime.InferenceSession(reply.content, providers=["CPUExecutionProvider"])
    decoded = session.run(None, {"latent": latent})[0][0]
    png = client.post(f"/api/models/{ids.vae}/decode", json={"latent": latent[0].tolist()})
    served = np.asarray(Image.open(io.BytesIO(png.content)), dtype=np.float64)
    ours = np.round(np.clip(decoded, 0, 1) * 255).transpose(1, 2, 0)
    assert np.abs(ours - served).max() <= 1  # 8-bit rounding of the same floats


def test_graph_files_are_immutable_and_revalidate_with_their_etag(client, ids):
    url = client.get(f"/api/models/{ids.qlae}/onnx").json()["parts"]["decoder"]["url"]
    first = client.get(url)
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_unknown_models_and_parts_are_client_errors(client, ids):
    assert client.get("/api/models/nope/onnx").status_code == 404
    bad_part = client.get(f"/api/models/{ids.qlae}/onnx/weights.onnx")
    assert bad_part.status_code == 422 and "decoder" in bad_part.text


def test_an_unwritable_cache_leaves_the_server_path(settings, ids, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    with TestClient(create_app(Settings(**{**settings.model_dump(), "onnx_cache_dir": blocked}))) as client:
        manifest = client.get(f"/api/models/{ids.qlae}/onnx").json()
        assert manifest["available"] is False
        assert "not writable" in manifest["unavailable"]["decoder"]
        file = client.get(f"/api/models/{ids.qlae}/onnx/decoder.onnx")
        assert file.status_code == 409 and "not writable" in file.json()["detail"]
        # the server path still decodes
        assert client.post(f"/api/models/{ids.qlae}/decode", json={"latent": [0.0] * 10}).status_code == 200


def test_a_model_folder_changed_on_disk_leaves_the_server_path(settings, models_dir, ids, tmp_path):
    import shutil

    served = tmp_path / "models"
    shutil.copytree(models_dir / ids.qlae, served / ids.qlae)
    cache = tmp_path / "onnx"
    with TestClient(
        create_app(Settings(**{**settings.model_dump(), "models_dir": served, "onnx_cache_dir": cache}))
    ) as client:
        assert client.post(f"/api/models/{ids.qlae}/decode", json={"latent": [0.0] * 10}).status_code == 200  # loaded
        weights = served / ids.qlae / "weights.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])  # replaced on disk once loaded, and broken
        response = client.get(f"/api/models/{ids.qlae}/onnx")
        assert response.status_code == 200, response.text
        assert response.json()["available"] is False
        assert "changed on disk" in response.json()["unavailable"]["decoder"]
        assert client.post(f"/api/models/{ids.qlae}/decode", json={"latent": [0.0] * 10}).status_code == 200
