"""GET /api/models/{id}/population: N seeded dataset samples encoded, with factors and PCA plane."""

from __future__ import annotations

import numpy as np


def test_population_is_seeded_cached_and_consistent_with_encode(client, ids, model_infos):
    reply = client.get(f"/api/models/{ids.vae}/population?n=40&seed=3")
    assert reply.status_code == 200
    data = reply.json()
    assert data["n"] == 40 and data["seed"] == 3 and data["cached"] is False
    assert data["dims"] == data["latent_dim"] == model_infos[ids.vae]["latent_dim"]
    assert len(data["latents"]) == len(data["indices"]) == len(data["factors"]) == len(data["pca"]["x"]) == 40
    assert data["factor_names"] == model_infos[ids.vae]["factor_names"]
    assert all(len(values) == 40 for values in data["factor_values"].values())
    # a point is the encoding of its dataset sample
    encoded = client.post(f"/api/models/{ids.vae}/encode", json={"dataset_index": data["indices"][5]}).json()
    np.testing.assert_allclose(data["latents"][5], encoded["latent"], atol=1e-4)
    # its plane coordinates come from the basis it returns
    pca = data["pca"]
    z = np.asarray(data["latents"])
    np.testing.assert_allclose(
        (z - pca["mean"]) @ np.asarray(pca["components"]).T, np.c_[pca["x"], pca["y"]], atol=1e-3
    )
    again = client.get(f"/api/models/{ids.vae}/population?n=40&seed=3").json()
    assert again["cached"] is True and again["indices"] == data["indices"]
    other = client.get(f"/api/models/{ids.vae}/population?n=40&seed=4").json()
    assert other["indices"] != data["indices"]


def test_population_bounds_are_client_errors(client, ids):
    for query in ("n=5001", "n=0", "seed=-1", "n=abc"):
        reply = client.get(f"/api/models/{ids.qlae}/population?{query}")
        assert reply.status_code == 422, query
        assert reply.json()["detail"]
    assert client.get("/api/models/nope/population").status_code == 404
