"""Models without a decoder over HTTP. Retrieval (the ``retrieval`` capability): the dataset images
nearest to a latent and traversals by retrieval, for an imported encoder-only model (the shipped
beta-VAE's encoder as ONNX, no decoder) and for a model with a decoder; saved latents without it
refuse (409). The probe decoder (``probe_decoder``): a decoder trained on the frozen latents
renders them, every reply labelled with its held-out PSNR as not the model's own."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from import_helpers import export_vae
from latentatlas.config import Settings
from latentatlas.data.spec import DatasetSpec
from latentatlas.imports import import_latents, import_onnx
from latentatlas.serve.app import create_app
from latentatlas.store.folders import load_model_folder
from latentatlas.store.probe_decoder import save_probe_decoder
from latentatlas.train.probe_decoder import train_probe_decoder

ENCODER_ONLY, WITH_DECODER, LATENTS, PROBED = "vae-encoder-only", "vae-onnx", "saved-latents", "vae-probed"
LATENTS_WITH_IMAGES, LATENTS_OF_ROWS = "saved-latents-images", "saved-latents-rows"
ROWS = np.arange(100, 3100, 100)  # the dataset rows the second run saved latents of
PROBE_STEPS = 20


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("retrieval")


@pytest.fixture(scope="module")
def saved_runs(root) -> dict:
    """Three saved-latents runs: bare (40 x 2 latents, factors), with 8x8 binary images, and of dataset rows."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, (40, 2))
    np.savez(root / "run.npz", z=y.astype(np.float32), y=y)
    z_images, images = (
        rng.normal(size=(40, 3)).astype(np.float32),
        (rng.random((40, 8, 8)) > 0.5).astype(np.uint8) * 255,
    )
    np.savez(root / "with-images.npz", z=z_images, y=y, images=images)
    z_rows = rng.normal(size=(len(ROWS), 4)).astype(np.float32)
    np.savez(
        root / "rows.npz", z=z_rows, y=rng.integers(0, 3, (len(ROWS), 2)), dataset=np.array("dsprites"), indices=ROWS
    )
    return {"with-images": (z_images, images), "rows": z_rows}


@pytest.fixture(scope="module")
def client(root, saved_runs):
    encoder, decoder = export_vae(root / "graphs")
    models = root / "models"
    import_onnx(encoder, None, DatasetSpec(name="dsprites"), models / ENCODER_ONLY, latent_output="mu")
    import_onnx(encoder, decoder, DatasetSpec(name="dsprites"), models / WITH_DECODER, latent_output="mu")
    import_latents(root / "run.npz", models / LATENTS)
    import_latents(root / "with-images.npz", models / LATENTS_WITH_IMAGES)
    import_latents(root / "rows.npz", models / LATENTS_OF_ROWS)
    import_onnx(encoder, None, DatasetSpec(name="dsprites"), models / PROBED, latent_output="mu")
    probe, section = train_probe_decoder(load_model_folder(models / PROBED), steps=PROBE_STEPS)
    save_probe_decoder(models / PROBED, probe, section)
    settings = Settings(models_dir=models, torch_threads=1, onnx_cache_dir=root / "onnx-cache")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _shape(data_url: str) -> tuple[int, ...]:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))).shape


def _latent_of(client, model: str, index: int) -> list[float]:
    response = client.post(f"/api/models/{model}/encode", json={"dataset_index": index})
    assert response.status_code == 200, response.text
    return response.json()["latent"]


def test_the_encoder_only_model_declares_retrieval_without_decode(client):
    models = {model["id"]: model for model in client.get("/api/models").json()["models"]}
    assert not models[ENCODER_ONLY]["capabilities"]["decode"] and models[ENCODER_ONLY]["capabilities"]["retrieval"]
    assert not models[LATENTS]["capabilities"]["retrieval"]  # neither images nor dataset rows to show
    assert (
        models[LATENTS_WITH_IMAGES]["capabilities"]["retrieval"]
        and models[LATENTS_OF_ROWS]["capabilities"]["retrieval"]
    )


def test_an_encoder_only_model_encodes_without_a_reconstruction(client):
    response = client.post(f"/api/models/{ENCODER_ONLY}/encode", json={"dataset_index": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["latent"]) == 10 and body["reconstruction"] is None and body["psnr_db"] is None
    assert "no decoder" in body["context"]


def test_nearest_images_are_sorted_and_an_indexed_image_finds_itself(client):
    first = client.post(f"/api/models/{ENCODER_ONLY}/nearest", json={"latent": [0.0] * 10, "k": 6})
    assert first.status_code == 200, first.text
    body = first.json()
    distances = [n["distance"] for n in body["neighbours"]]
    assert len(distances) == 6 and distances == sorted(distances)
    assert body["index"]["size"] == 2000 and body["index"]["dataset"] == "dsprites"
    assert _shape(body["neighbours"][0]["image"])[:2] == (64, 64)
    assert set(body["neighbours"][0]["factors"]) >= {"shape", "scale"}
    # an image of the index, encoded, is its own nearest neighbour at distance 0
    found = body["neighbours"][3]["index"]
    again = client.post(
        f"/api/models/{ENCODER_ONLY}/nearest", json={"latent": _latent_of(client, ENCODER_ONLY, found), "k": 1}
    )
    assert again.json()["neighbours"][0]["index"] == found and again.json()["neighbours"][0]["distance"] < 1e-3


def test_saved_latents_are_their_own_index_shown_by_their_saved_images(client, saved_runs):
    z, images = saved_runs["with-images"]
    response = client.post(f"/api/models/{LATENTS_WITH_IMAGES}/nearest", json={"latent": z[17].tolist(), "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["index"] == {**body["index"], "size": 40, "seed": None, "dataset": "the saved samples"}
    first = body["neighbours"][0]
    assert first["index"] == 17 and first["distance"] < 1e-6  # a saved latent finds its own sample
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(first["image"].split(",", 1)[1]))).convert("L"))
    np.testing.assert_array_equal(shown, images[17])
    assert set(first["factors"]) == {"factor0", "factor1"}  # the import's names where the run gave none


def test_saved_latents_of_dataset_rows_show_those_rows(client, saved_runs):
    z = saved_runs["rows"]
    response = client.post(f"/api/models/{LATENTS_OF_ROWS}/nearest", json={"latent": z[5].tolist(), "k": 1})
    assert response.status_code == 200, response.text
    first = response.json()["neighbours"][0]
    assert first["index"] == 5
    expected = client.post(f"/api/models/{WITH_DECODER}/encode", json={"dataset_index": int(ROWS[5])}).json()["input"]
    assert first["image"] == expected  # the dataset's own picture of row ROWS[5]
    grid = client.post(
        f"/api/models/{LATENTS_OF_ROWS}/retrieval-traverse", json={"latent": z[5].tolist(), "dims": [1], "steps": 3}
    )
    assert grid.status_code == 200, grid.text
    assert set(np.asarray(grid.json()["indices"]).ravel()) <= set(range(len(ROWS)))


def test_a_retrieval_traversal_tiles_the_nearest_image_of_each_swept_latent(client):
    latent = _latent_of(client, ENCODER_ONLY, 1234)
    response = client.post(
        f"/api/models/{ENCODER_ONLY}/retrieval-traverse", json={"latent": latent, "dims": [0, 3], "steps": 5}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dims"] == [0, 3] and body["steps"] == 5 and _shape(body["image"])[:2] == (128, 320)
    assert np.asarray(body["indices"]).shape == (2, 5) and np.asarray(body["distances"]).shape == (2, 5)
    # the swept values are /traverse's, and each cell is /nearest's first answer for its latent
    swept = list(latent)
    swept[3] = body["values"][1][4]
    nearest = client.post(f"/api/models/{ENCODER_ONLY}/nearest", json={"latent": swept, "k": 1}).json()
    assert nearest["neighbours"][0]["index"] == body["indices"][1][4]


def test_a_model_with_a_decoder_retrieves_too(client):
    latent = _latent_of(client, WITH_DECODER, 99)
    response = client.post(f"/api/models/{WITH_DECODER}/nearest", json={"latent": latent, "k": 2})
    assert response.status_code == 200, response.text
    assert len(response.json()["neighbours"]) == 2


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("nearest", {"latent": [0.0] * 10, "k": 0}, 422, "k"),
        ("nearest", {"latent": [0.0] * 3}, 422, "expects 10"),
        ("retrieval-traverse", {"latent": [0.0] * 10, "dims": [10]}, 422, "dimension 10"),
    ],
)
def test_bad_input_is_refused_clearly(client, path, body, status, says):
    response = client.post(f"/api/models/{ENCODER_ONLY}/{path}", json=body)
    assert response.status_code == status and says in response.text


def test_saved_latents_without_retrieval_refuse(client):
    response = client.post(f"/api/models/{LATENTS}/nearest", json={"latent": [0.0, 0.0]})
    assert response.status_code == 409 and "retrieval" in response.json()["detail"]


def test_the_probe_decoder_is_declared_and_on_the_card(client):
    models = {model["id"]: model for model in client.get("/api/models").json()["models"]}
    assert models[PROBED]["capabilities"]["probe_decoder"]
    assert not models[PROBED]["capabilities"]["decode"]
    assert not models[ENCODER_ONLY]["capabilities"]["probe_decoder"]
    section = client.get(f"/api/models/{PROBED}").json()["card"]["probe_decoder"]
    assert section["steps"] == PROBE_STEPS
    assert np.isfinite(section["heldout_psnr_db"])
    assert section["label"] == f"probe decoder, held-out PSNR {section['heldout_psnr_db']:.1f} dB: not the model's own"


def test_probe_decodes_and_traversals_carry_the_label(client):
    section = client.get(f"/api/models/{PROBED}").json()["card"]["probe_decoder"]
    latent = _latent_of(client, PROBED, 5)
    decoded = client.post(f"/api/models/{PROBED}/probe-decode", json={"latent": latent})
    assert decoded.status_code == 200, decoded.text
    assert decoded.json()["label"] == section["label"]
    assert _shape(decoded.json()["image"])[:2] == (64, 64)
    grid = client.post(f"/api/models/{PROBED}/probe-traverse", json={"latent": latent, "dims": [1, 2, 4], "steps": 7})
    assert grid.status_code == 200, grid.text
    assert grid.json()["label"] == section["label"]
    assert _shape(grid.json()["image"])[:2] == (3 * 64, 7 * 64)


def test_a_model_without_a_probe_decoder_refuses_probe_requests(client):
    response = client.post(f"/api/models/{ENCODER_ONLY}/probe-decode", json={"latent": [0.0] * 10})
    assert response.status_code == 409
    assert "probe-decoder" in response.json()["detail"]
