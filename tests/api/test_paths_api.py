"""Latent paths over HTTP: /interpolate between two images (dataset images by index, or uploads
as in /encode; codes snapped to the codebooks; the probe decoder where there is no decoder; an
animated GIF on request) and /directions, the principal directions of a model's latents."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from import_helpers import export_vae
from latentatlas.config import Settings
from latentatlas.data.spec import DatasetSpec
from latentatlas.imports import import_onnx
from latentatlas.serve.app import create_app
from latentatlas.store.folders import load_model_folder
from latentatlas.store.probe_decoder import save_probe_decoder
from latentatlas.train.probe_decoder import train_probe_decoder

ENCODER_ONLY, PROBED = "encoder-only", "encoder-probed"


def _interpolate(client, model: str, start: int, end: int, steps: int, query: str = ""):
    body = {"from": {"dataset_index": start}, "to": {"dataset_index": end}, "steps": steps}
    return client.post(f"/api/models/{model}/interpolate{query}", json=body)


def _latent(client, model: str, **request) -> list[float]:
    response = client.post(f"/api/models/{model}/encode", **request)
    assert response.status_code == 200, response.text
    return response.json()["latent"]


def test_interpolation_runs_from_one_images_latent_to_the_others(client, ids, data_url_image):
    response = _interpolate(client, ids.vae, 3, 40, 5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["steps"] == 5 and len(body["frames"]) == 5 and len(body["latents"]) == 5
    assert body["decoder"] == "model" and body["label"] is None
    assert all(data_url_image(frame).size == (32, 32) for frame in body["frames"])
    latents = np.asarray(body["latents"])
    start, end = (_latent(client, ids.vae, json={"dataset_index": i}) for i in (3, 40))
    np.testing.assert_allclose(latents[0], start, atol=1e-5)
    np.testing.assert_allclose(latents[-1], end, atol=1e-5)
    np.testing.assert_allclose(latents[2], (np.asarray(start) + end) / 2, atol=1e-5)


def test_a_models_codes_hold_every_interpolated_latent(client, ids, model_infos):
    response = _interpolate(client, ids.qlae, 0, 999, 9)
    assert response.status_code == 200, response.text
    latents = np.asarray(response.json()["latents"])
    for d, codebook in enumerate(model_infos[ids.qlae]["codebooks"]):
        assert np.isclose(latents[:, d, None], np.asarray(codebook)[None, :], atol=1e-5).any(axis=1).all()


def test_an_upload_and_a_dataset_index_interpolate_as_multipart(client, ids, image_bytes):
    picture = (np.indices((32, 32)).sum(axis=0) % 7 * 36).astype(np.uint8)
    upload = image_bytes(picture)
    response = client.post(
        f"/api/models/{ids.vae}/interpolate",
        files={"from": ("mine.png", upload, "image/png")},
        data={"to": "12", "steps": "3"},
    )
    assert response.status_code == 200, response.text
    latents = response.json()["latents"]
    assert len(latents) == 3
    np.testing.assert_allclose(latents[0], _latent(client, ids.vae, files={"image": ("mine.png", upload)}), atol=1e-5)
    np.testing.assert_allclose(latents[-1], _latent(client, ids.vae, json={"dataset_index": 12}), atol=1e-5)


def test_the_gif_has_one_frame_per_step(client, ids):
    response = _interpolate(client, ids.qlae, 5, 6, 4, "?format=gif")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/gif"
    gif = Image.open(io.BytesIO(response.content))
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.info["loop"] == 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            {"from": {"dataset_index": 0}, "to": {"dataset_index": 10**9}},
            "'to': dataset_index 1000000000 is out of range",
        ),
        ({"from": {"dataset_index": 0}, "to": {"dataset_index": 1}, "steps": 0}, "steps"),
        ({"from": {"dataset_index": 0}, "to": {"dataset_index": 1}, "steps": 1000}, "steps"),
        ({"to": {"dataset_index": 1}}, "from: Field required"),
        ({"from": {"dataset_index": 0}}, "to: Field required"),
        ({"from": {"dataset_index": -1}, "to": {"dataset_index": 1}}, "from.dataset_index"),
        ({"from": 3, "to": {"dataset_index": 1}}, "from"),
    ],
)
def test_bad_interpolation_requests_are_refused_naming_the_problem(client, ids, body, named):
    response = client.post(f"/api/models/{ids.qlae}/interpolate", json=body)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]


def test_bad_multipart_and_content_types_are_refused(client, ids, image_bytes):
    upload = image_bytes(np.zeros((32, 32), np.uint8))
    missing = client.post(f"/api/models/{ids.qlae}/interpolate", files={"from": ("a.png", upload)}, data={"steps": "3"})
    assert missing.status_code == 422 and "'to'" in missing.json()["detail"]
    for index in ("-1", "²", "1.5", "9" * 13):  # not a dataset index (a superscript digit is no digit here)
        bad = client.post(f"/api/models/{ids.qlae}/interpolate", files={"from": ("a.png", upload)}, data={"to": index})
        assert bad.status_code == 422 and "dataset index" in bad.json()["detail"], (index, bad.text)
    steps = client.post(
        f"/api/models/{ids.qlae}/interpolate", files={"from": ("a.png", upload)}, data={"to": "1", "steps": "99"}
    )
    assert steps.status_code == 422 and "steps" in steps.json()["detail"]
    corrupt = client.post(
        f"/api/models/{ids.qlae}/interpolate", files={"from": ("a.png", b"not an image"), "to": ("b.png", upload)}
    )
    assert corrupt.status_code in (415, 422), corrupt.text
    text = client.post(f"/api/models/{ids.qlae}/interpolate", content=b"0 1", headers={"content-type": "text/plain"})
    assert text.status_code == 415 and "multipart" in text.json()["detail"]
    unknown = client.post(
        "/api/models/nope/interpolate", json={"from": {"dataset_index": 0}, "to": {"dataset_index": 1}}
    )
    assert unknown.status_code == 404


def test_directions_are_unit_vectors_ordered_by_variance(client, ids, model_infos):
    response = client.get(f"/api/models/{ids.vae}/directions?count=4")
    assert response.status_code == 200, response.text
    body = response.json()
    dim = model_infos[ids.vae]["latent_dim"]
    assert body["latent_dim"] == dim and len(body["mean"]) == dim and body["samples"] >= 2
    vectors = np.asarray([d["vector"] for d in body["directions"]])
    assert vectors.shape == (4, dim)
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(4), atol=1e-4)  # orthonormal
    sds = [d["sd"] for d in body["directions"]]
    ratios = [d["explained_variance_ratio"] for d in body["directions"]]
    assert sds == sorted(sds, reverse=True) and sds[-1] > 0
    assert ratios == sorted(ratios, reverse=True) and 0 < sum(ratios) <= 1 + 1e-9
    # measured once: a larger count extends the same list
    more = client.get(f"/api/models/{ids.vae}/directions?count=6").json()["directions"]
    assert more[:4] == body["directions"] and len(more) == 6


@pytest.mark.parametrize("count", ["0", "33", "many"])
def test_a_bad_direction_count_is_refused(client, ids, count):
    response = client.get(f"/api/models/{ids.qlae}/directions?count={count}")
    assert response.status_code == 422 and "count" in response.json()["detail"]


@pytest.fixture(scope="module")
def encoder_only(tmp_path_factory):
    """An imported encoder without a decoder, once bare and once with a probe decoder."""
    root = tmp_path_factory.mktemp("paths")
    encoder, _ = export_vae(root / "graphs")
    models = root / "models"
    for name in (ENCODER_ONLY, PROBED):
        import_onnx(encoder, None, DatasetSpec(name="dsprites"), models / name, latent_output="mu")
    probe, section = train_probe_decoder(load_model_folder(models / PROBED), steps=10)
    save_probe_decoder(models / PROBED, probe, section)
    settings = Settings(models_dir=models, torch_threads=1, onnx_cache_dir=root / "onnx-cache")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_model_without_decoder_or_probe_refuses_to_interpolate_saying_why(encoder_only):
    response = _interpolate(encoder_only, ENCODER_ONLY, 0, 1, 4)
    assert response.status_code == 409
    assert "no decoder and no probe decoder" in response.json()["detail"]
    assert "latentatlas probe-decoder" in response.json()["detail"]


def test_a_probe_decoder_renders_the_interpolation_labelled(encoder_only, data_url_image):
    response = _interpolate(encoder_only, PROBED, 0, 1, 4)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decoder"] == "probe" and "not the model's own" in body["label"]
    assert len(body["frames"]) == 4 and data_url_image(body["frames"][0]).size == (64, 64)
    directions = encoder_only.get(f"/api/models/{ENCODER_ONLY}/directions?count=2")
    assert directions.status_code == 200 and len(directions.json()["directions"]) == 2
