"""Per-image PCA baselines on the ordered-latent endpoints: ``baselines`` on /truncate and
/denoise returns PCA's top-C reconstruction and PCA's denoising of the same image, from the
card's PCA (the same training images, fitted once per model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flow_models import DIM, FLOW_ID, QLAE_ID, SIZE
from flow_models import data_url_pixels as _image
from flow_models import gradient_png as _png

from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.flow import training_pca
from latentatlas.evaluation.quality import add_noise, psnr


@pytest.fixture(scope="module")
def reference_pca():
    """The baseline the server must be using: training_pca on the model's data with seed 0."""
    dataset = load_dataset(DatasetSpec(name="dsprites", image_size=SIZE))
    pca, samples = training_pca(dataset, DIM, np.random.default_rng(0))
    return dataset, pca, samples


def test_truncate_baselines_are_the_cards_pca_on_this_image(flow_client, reference_pca):
    dataset, pca, samples = reference_pca
    keep = [1, 16, DIM]
    body = {"dataset_index": 3, "keep": keep, "baselines": True}
    reply = flow_client.post(f"/api/models/{FLOW_ID}/truncate", json=body)
    assert reply.status_code == 200, reply.text[:500]
    result = reply.json()
    assert result["pca_samples"] == samples
    image = dataset.images(np.asarray([3]))
    for row, c in zip(result["results"], keep, strict=True):
        _image(row["pca"]["image"])
        assert row["pca"]["psnr"] == pytest.approx(float(psnr(image, pca.reconstruct(image, c))[0]), abs=1e-3)
    assert result["results"][0]["pca"]["psnr"] < result["results"][-1]["pca"]["psnr"]
    assert result["results"][-1]["pca"]["psnr"] >= 60  # all axes kept: the projection is the image
    assert flow_client.post(f"/api/models/{FLOW_ID}/truncate", json=body).json() == result  # cached: same fit


def test_without_baselines_nothing_is_fitted_or_returned(flow_client):
    reply = flow_client.post(f"/api/models/{FLOW_ID}/truncate", json={"dataset_index": 3, "keep": [4]}).json()
    assert reply["pca_samples"] is None and reply["results"][0]["pca"] is None


def test_denoise_baseline_projects_the_same_noisy_image(flow_client, reference_pca):
    dataset, pca, _ = reference_pca
    body = {"dataset_index": 5, "sigma": 0.2, "keep": 32, "seed": 7, "baselines": True}
    reply = flow_client.post(f"/api/models/{FLOW_ID}/denoise", json=body)
    assert reply.status_code == 200, reply.text[:500]
    result = reply.json()
    clean = dataset.images(np.asarray([5])).float()
    noisy = add_noise(clean, 0.2, torch.Generator().manual_seed(7))
    expected = float(psnr(clean, pca.reconstruct(noisy, 32))[0])
    assert result["pca"]["psnr"] == pytest.approx(expected, abs=1e-3)
    assert result["pca"]["psnr"] > result["noisy_psnr"]  # 32 of 256 axes drop most of the noise
    _image(result["pca"]["image"])


def test_baselines_for_an_upload_by_form_field(flow_client):
    reply = flow_client.post(
        f"/api/models/{FLOW_ID}/truncate",
        files={"image": ("a.png", _png(), "image/png")},
        data={"keep": "4,256", "baselines": "true"},
    )
    assert reply.status_code == 200, reply.text[:500]
    results = reply.json()["results"]
    assert results[0]["pca"]["psnr"] < results[1]["pca"]["psnr"] and results[1]["pca"]["psnr"] >= 60


def test_a_model_without_ordered_latents_is_refused(flow_client):
    body = {"dataset_index": 0, "keep": [1], "baselines": True}
    reply = flow_client.post(f"/api/models/{QLAE_ID}/truncate", json=body)
    assert reply.status_code == 409 and "ordered" in reply.json()["detail"]
