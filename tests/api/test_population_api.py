"""GET /api/models/{id}/population: N seeded dataset samples encoded, with factors and PCA plane, as JSON or
in the binary form; GET /dataset-grid: a selection of them as one image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from api_assertions import assert_detail, wait_for_job
from PIL import Image

from latentatlas.serve.array_pack import unpack_arrays

BINARY = "application/vnd.latentatlas.population"


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
    for query in ("n=100001", "n=0", "seed=-1", "n=abc"):
        reply = client.get(f"/api/models/{ids.qlae}/population?{query}")
        assert reply.status_code == 422, query
        assert reply.json()["detail"]
    assert client.get("/api/models/nope/population").status_code == 404


def test_binary_form_holds_the_json_values_as_float32(client, ids):
    url = f"/api/models/{ids.qlae}/population?n=50&seed=5"
    packed = client.get(url, headers={"Accept": BINARY})
    assert packed.status_code == 200 and packed.headers["content-type"] == BINARY
    header, arrays = unpack_arrays(packed.content)
    data = client.get(url).json()  # JSON stays the default, from the same cached computation
    assert data["cached"] is True and header["cached"] is False
    assert {key: header[key] for key in ("n", "seed", "dims", "latent_dim", "factor_names")} == {
        key: data[key] for key in ("n", "seed", "dims", "latent_dim", "factor_names")
    }
    assert arrays["indices"].dtype == np.int32 and arrays["latents"].dtype == np.float32
    assert arrays["indices"].tolist() == data["indices"] and arrays["factors"].tolist() == data["factors"]
    np.testing.assert_allclose(arrays["latents"], data["latents"], atol=1e-5)
    np.testing.assert_allclose(arrays["plane"], np.c_[data["pca"]["x"], data["pca"]["y"]], atol=1e-5)
    for k, name in enumerate(header["factor_names"]):  # each sample's value is its level's
        levels = header["factor_levels"][name]
        assert [levels[i] for i in arrays["factors"][:, k]] == data["factor_values"][name]
    assert {key: header["pca"][key] for key in ("mean", "components")} == {
        key: data["pca"][key] for key in ("mean", "components")
    }
    again = client.get(url, headers={"Accept": f"text/html, {BINARY};q=0.9"})
    assert unpack_arrays(again.content)[0]["cached"] is True


def test_dataset_grid_tiles_the_selected_images(client, ids):
    indices = client.get(f"/api/models/{ids.qlae}/population?n=20&seed=1").json()["indices"][:11]
    reply = client.get(f"/api/models/{ids.qlae}/dataset-grid?indices={','.join(map(str, indices))}&columns=4")
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    grid = np.asarray(Image.open(io.BytesIO(reply.content)))
    size = 32
    assert grid.shape[:2] == (3 * size, 4 * size)
    first = client.get(f"/api/models/{ids.qlae}/dataset-grid?indices={indices[0]}")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(first.content))), grid[:size, :size])
    assert not grid[2 * size :, 3 * size :].any()  # the one empty cell is black


def test_dataset_grid_bad_input_is_a_client_error(client, ids):
    base = f"/api/models/{ids.qlae}/dataset-grid"
    for query in ("indices=", "indices=1,,2", "indices=-1", "indices=" + ",".join(["1"] * 65), "indices=1&columns=0"):
        reply = client.get(f"{base}?{query}")
        assert reply.status_code == 422, query
    reply = client.get(f"{base}?indices=5,999999999")
    assert reply.status_code == 422 and "999999999" in reply.json()["detail"]


def test_progress_counts_the_samples_encoded_while_a_population_runs(client, ids, monkeypatch):
    from latentatlas.serve.services import population as module

    seen = []
    encode = module.PopulationService._encode_factors

    def watched(self, dataset, factors, dims, on_chunk=None):
        def report(done):
            on_chunk(done)
            seen.append(client.get(f"/api/models/{ids.qlae}/population-progress").json())

        return encode(self, dataset, factors, dims, report)

    monkeypatch.setattr(module, "POPULATION_CHUNK", 16)
    monkeypatch.setattr(module.PopulationService, "_encode_factors", watched)
    assert client.get(f"/api/models/{ids.qlae}/population?n=40&seed=9").status_code == 200
    assert [(p["running"], p["n"], p["seed"], p["done"]) for p in seen] == [(True, 40, 9, d) for d in (0, 16, 32)]
    assert client.get(f"/api/models/{ids.qlae}/population-progress").json() == {
        "running": False,
        "n": None,
        "seed": None,
        "done": 0,
        "elapsed_s": 0.0,
    }


@pytest.mark.slow
def test_a_population_of_100000_answers_in_both_forms(client, ids):
    url = f"/api/models/{ids.qlae}/population?n=100000&seed=0"
    header, arrays = unpack_arrays(client.get(url, headers={"Accept": BINARY}).content)
    assert header["n"] == 100_000 and arrays["latents"].shape == (100_000, header["dims"])
    assert np.isfinite(arrays["plane"]).all() and len(np.unique(arrays["indices"])) > 90_000
    data = client.get(url).json()
    assert data["cached"] is True and len(data["latents"]) == 100_000


def test_a_layout_job_lays_the_population_out_and_is_cached(client, ids):
    """POST /population-layout: a job whose result is the population's UMAP (or t-SNE) layout in
    the population's order, seeded (the same as the layout function on those latents); asked
    again, it is done at once from the cache."""
    from latentatlas.evaluation.layouts import layout_2d

    packed = client.get(f"/api/models/{ids.vae}/population?n=60&seed=3", headers={"Accept": BINARY}).content
    latents = unpack_arrays(packed)[1]["latents"]  # exactly the float32 latents the layout reads
    for method in ("umap", "tsne"):
        started = client.post(f"/api/models/{ids.vae}/population-layout", json={"method": method, "n": 60, "seed": 3})
        assert started.status_code == 202, started.text
        replies = wait_for_job(client, started.json()["job_id"], wait_s=180)
        job = replies[-1]
        assert job["status"] == "done", job
        assert job["model_id"] == ids.vae
        layout = job["result"]
        assert (layout["method"], layout["n"], layout["seed"], layout["cached"]) == (method, 60, 3, False)
        expected = layout_2d(latents, method, 3)
        np.testing.assert_allclose(np.c_[layout["x"], layout["y"]], expected, atol=1e-3)
        again = client.post(f"/api/models/{ids.vae}/population-layout", json={"method": method, "n": 60, "seed": 3})
        cached = wait_for_job(client, again.json()["job_id"])[-1]["result"]
        assert cached["cached"] is True and cached["x"] == layout["x"]


def test_layout_bad_input_is_a_client_error(client, ids):
    url = f"/api/models/{ids.qlae}/population-layout"
    for body in ({"method": "pca"}, {"method": "umap", "n": 20001}, {"method": "tsne", "n": 5}, {"n": 100}):
        assert_detail(client.post(url, json=body), 422)
    assert client.post("/api/models/nope/population-layout", json={"method": "umap"}).status_code == 404
