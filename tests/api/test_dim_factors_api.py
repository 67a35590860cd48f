"""GET /api/models/{id}/dim-factors: each dim's factor by intervention, computed once per model."""

from __future__ import annotations

import time


def test_dim_factors_name_dims_after_factors_and_are_kept(client, ids, model_infos):
    info = model_infos[ids.qlae]
    reply = client.get(f"/api/models/{ids.qlae}/dim-factors")
    assert reply.status_code == 200
    data = reply.json()
    assert data["factor_names"] == info["factor_names"]
    assert len(data["names"]) == len(data["scores"]) == info["latent_dim"]
    assert all(len(row) == len(info["factor_names"]) and min(row) >= 0 for row in data["scores"])
    assert all(name is None or name in info["factor_names"] for name in data["names"])
    # a named dim is named after its best-scoring factor
    for name, row in zip(data["names"], data["scores"]):
        if name is not None:
            assert info["factor_names"][row.index(max(row))] == name
    assert data["encodes"] == data["bases"] * sum(min(size, data["per_factor"]) for size in info["factor_sizes"])
    started = time.perf_counter()
    again = client.get(f"/api/models/{ids.qlae}/dim-factors")
    assert again.json() == data and time.perf_counter() - started < 0.5


def test_dim_factors_of_an_unknown_model_is_404(client):
    reply = client.get("/api/models/nope/dim-factors")
    assert reply.status_code == 404 and "nope" in reply.json()["detail"]


def test_dim_factors_without_generative_factors_is_409(client, ids, monkeypatch):
    service = client.app.state.registry.get(ids.vae)
    # as for a model on an image folder (or whose dataset is not on this machine)
    monkeypatch.setattr(type(service), "dataset", property(lambda self: None))
    reply = client.get(f"/api/models/{ids.vae}/dim-factors")
    assert reply.status_code == 409 and "generative factors" in reply.json()["detail"]


def test_dim_factors_never_name_an_inactive_dim(client, ids, model_infos):
    """Models without card metrics are named by intervention; dims the model calls inactive are not
    named, and the reply says which they are (what the explorer counts its named dims among)."""
    info = model_infos[ids.vae]
    data = client.get(f"/api/models/{ids.vae}/dim-factors").json()
    expected = info["dim_inactive"] or [False] * info["latent_dim"]
    assert data["inactive"] == expected
    assert all(name is None for name, off in zip(data["names"], data["inactive"]) if off)
    assert "inactive dims" in data["rule"]
