"""Exports for papers over HTTP: POST /api/models/{id}/traverse/export (labelled PNG grid, GIF
per traversal) and GET /api/models/{id}/metrics/export (metric matrices as CSV / JSON)."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from api_assertions import assert_detail
from fastapi.testclient import TestClient
from PIL import Image

from latentatlas.config import Settings
from latentatlas.serve.app import create_app


def _export(client, model_id: str, **body):
    return client.post(f"/api/models/{model_id}/traverse/export", json=body)


def _open(response, media_type: str) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def _traverse_grid(client, model_id: str, body: dict, data_url_image) -> tuple[dict, np.ndarray]:
    response = client.post(f"/api/models/{model_id}/traverse", json=body)
    assert response.status_code == 200, response.text
    reply = response.json()
    return reply, np.asarray(data_url_image(reply["image"]).convert("RGB"), dtype=np.int16)


def test_png_export_is_the_traversal_grid_labelled_and_upscaled(client, ids, model_infos, data_url_image):
    info = model_infos[ids.vae]
    body = {"latent": info["latent_mean"], "dims": [4, 0, 7], "steps": 5}
    _reply, grid = _traverse_grid(client, ids.vae, body, data_url_image)
    response = _export(client, ids.vae, **body, format="png")
    assert response.headers["content-disposition"] == f'attachment; filename="{ids.vae}-traversal.png"'
    sheet = _open(response, "image/png")
    scale = 2  # 32-pixel tiles are upscaled to 64 by default
    tiles_w, tiles_h = 5 * 32 * scale, 3 * 32 * scale
    label_width, header = sheet.width - tiles_w, sheet.height - tiles_h
    assert label_width > 10 and header > 10
    # The tiles are exactly the /traverse grid's, each pixel repeated scale x scale times.
    pixels = np.asarray(sheet.convert("RGB"), dtype=np.int16)[header:, label_width:]
    assert np.array_equal(pixels, grid.repeat(scale, axis=0).repeat(scale, axis=1))
    # The label column and the header are drawn (not blank white).
    labels = np.asarray(sheet.convert("L"))[:, :label_width]
    assert (labels < 128).sum() > 0 and (np.asarray(sheet.convert("L"))[:header] < 128).sum() > 0
    # scale=1 keeps the model's tiles: the same margins, half the grid.
    small = _open(_export(client, ids.vae, **body, format="png", scale=1), "image/png")
    assert small.size == (label_width + 5 * 32, header + 3 * 32)


def test_gif_export_has_one_frame_per_step(client, ids, model_infos, data_url_image):
    info = model_infos[ids.vae]
    body = {"latent": info["latent_mean"], "dims": [1, 2], "steps": 6}
    _, grid = _traverse_grid(client, ids.vae, body, data_url_image)
    response = _export(client, ids.vae, **body, format="gif", scale=1)
    assert response.headers["content-disposition"] == f'attachment; filename="{ids.vae}-traversal.gif"'
    gif = _open(response, "image/gif")
    assert gif.n_frames == 6 and gif.info["loop"] == 0
    png = _open(_export(client, ids.vae, **body, format="png", scale=1), "image/png")
    label_width, header = png.width - 6 * 32, png.height - 2 * 32
    assert gif.size == (label_width + 32, png.height)  # every dim as a row, one step per frame
    for k in range(6):
        gif.seek(k)
        frame = np.asarray(gif.convert("RGB"), dtype=np.int16)[header:, label_width:]
        column = grid[:, k * 32 : (k + 1) * 32]  # step k of every dim
        assert np.abs(frame - column).mean() < 6, k  # GIF's 256-colour palette


def test_qlae_gif_steps_through_the_codebook(client, ids, model_infos):
    info = model_infos[ids.qlae]
    gif = _open(_export(client, ids.qlae, latent=info["latent_mean"], dims=[0, 3], steps=5, format="gif"), "image/gif")
    assert gif.n_frames == len(info["codebooks"][0])
    assert gif.height > 2 * 64  # 32-pixel tiles at the default scale 2, plus the header


def test_export_defaults_to_the_traversals_dims(client, ids, model_infos):
    info = model_infos[ids.qlae]
    one_row = _open(_export(client, ids.qlae, latent=info["latent_mean"], dims=[0], scale=1), "image/png")
    header = one_row.height - 32
    every = _open(
        _export(client, ids.qlae, latent=info["latent_mean"], scale=1), "image/png"
    )  # as /traverse: every dim of 10
    assert every.height == header + info["latent_dim"] * 32
    assert every.width == one_row.width  # same steps (the codebook); "z0" .. "z9" fit the same label column


@pytest.mark.parametrize(
    ("extra", "keywords"),
    [
        ({"format": "jpeg"}, ["format", "png", "gif"]),
        ({"scale": 0}, ["scale"]),
        ({"scale": 17}, ["scale"]),
        ({"dims": [12]}, ["dimension 12"]),
        ({"dims": [0, 1] * 10, "steps": 64}, ["decodes", "limit"]),  # 1,280 decodes
        ({"dims": list(range(12)), "steps": 64, "scale": 16}, ["pixels", "limit", "scale"]),
        ({"latent": [0.0] * 3}, ["3 values"]),
    ],
)
def test_export_refusals(client, ids, model_infos, extra, keywords):
    body = {"latent": model_infos[ids.vae]["latent_mean"], "format": "png", **extra}
    assert_detail(
        client.post(
            f"/api/models/{ids.vae}/traverse/export",
            content=json.dumps(body),
            headers={"content-type": "application/json"},
        ),
        422,
        *keywords,
    )


def test_unknown_model_is_404(client):
    assert_detail(_export(client, "no-such-model", latent=[0.0] * 10), 404, "unknown model")
    assert_detail(client.get("/api/models/no-such-model/metrics/export"), 404, "unknown model")


def test_metrics_export_without_metrics_is_409(client, ids):
    for fmt in ("csv", "json"):
        assert_detail(
            client.get(f"/api/models/{ids.vae}/metrics/export", params={"format": fmt}),
            409,
            "no metrics",
            "latentatlas evaluate",
        )
    assert_detail(client.get(f"/api/models/{ids.vae}/metrics/export", params={"format": "xlsx"}), 422, "format")


# -- a model whose card has metrics ------------------------------------------------------

FACTORS = ["floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"]
K, D = len(FACTORS), 12


NAMED_DIM = 3


@pytest.fixture(scope="module")
def card_metrics() -> dict:
    """Metrics of the shape `latentatlas evaluate` writes (factors x dims, or dims x factors for
    DCI and MIG), seeded; ``NAMED_DIM`` follows wall_hue strongly, dim 5 is inactive."""
    rng = np.random.default_rng(0)
    nmi = rng.uniform(0, 0.1, (K, D))
    nmi[1, NAMED_DIM] = 0.8
    return {
        "values": {"mig": 0.1, "infomec": {"infom": 0.2, "infoc": 0.3, "infoe": 0.4}},
        "matrices": {
            "infomec_nmi": nmi.tolist(),
            "infomec_active": [d != 5 for d in range(D)],
            "dci_importance": rng.uniform(0, 1, (D, K)).tolist(),
            "mig_mutual_info": rng.uniform(0, 1, (D, K)).tolist(),
            "factor_vae_votes": rng.integers(0, 9, (K, D)).tolist(),
        },
        "factor_names": FACTORS,
        "latent_dim": D,
        "samples": 300,
        "train_rows": 200,
        "seed": 0,
        "infomec_latents": "values",
        "votes": {"train": 10, "eval": 5, "batch_size": 64},
        "seconds": {"total": 1.0},
        "device": "cpu",
        "created": "2026-12-02T00:00:00",
    }


@pytest.fixture(scope="module")
def metrics_client(tmp_path_factory, models_dir, ids, card_metrics):
    """The tiny VAE (12 latents, Shapes3D's 6 factors) served with metrics in its card (and a
    posterior sd of 0.5: its 15 training steps leave every dim collapsed, which is never named)."""
    root = tmp_path_factory.mktemp("with-metrics")
    shutil.copytree(models_dir / ids.vae, root / ids.vae)
    card_path = root / ids.vae / "card.json"
    card = json.loads(card_path.read_text())
    card["latent_stats"]["posterior_scale"] = [0.5] * D
    card_path.write_text(json.dumps({**card, "metrics": card_metrics}))
    with TestClient(create_app(Settings(models_dir=root, torch_threads=1))) as client:
        yield client


def test_metrics_csv_has_k_rows_by_d_columns_per_matrix(metrics_client, ids, card_metrics):
    response = metrics_client.get(f"/api/models/{ids.vae}/metrics/export", params={"format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="{ids.vae}-metrics.csv"'
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert header == ["matrix", "factor", *[f"z{d}" for d in range(D)]]
    blocks: dict[str, list[list[str]]] = {}
    for row in rows:
        blocks.setdefault(row[0], []).append(row)
    assert list(blocks) == ["infomec_nmi", "dci_importance", "mig_mutual_info", "factor_vae_votes", "infomec_active"]
    matrices = card_metrics["matrices"]
    for name in ("infomec_nmi", "dci_importance", "mig_mutual_info", "factor_vae_votes"):
        block = blocks[name]
        assert [row[1] for row in block] == FACTORS and all(len(row) == 2 + D for row in block)  # K rows x D columns
        values = np.asarray([[float(v) for v in row[2:]] for row in block])
        expected = np.asarray(matrices[name], dtype=float)
        assert np.array_equal(values, expected.T if name in ("dci_importance", "mig_mutual_info") else expected), name
    assert blocks["infomec_active"] == [["infomec_active", "", *[str(int(d != 5)) for d in range(D)]]]
    assert blocks["factor_vae_votes"][0][2:] == [
        str(v) for v in matrices["factor_vae_votes"][0]
    ]  # counts stay integers


def test_metrics_json_names_factors_and_dims(metrics_client, ids, card_metrics):
    response = metrics_client.get(f"/api/models/{ids.vae}/metrics/export", params={"format": "json"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert (
        body["model_id"] == ids.vae and body["factor_names"] == FACTORS and body["dims"] == [f"z{d}" for d in range(D)]
    )
    assert body["matrices"]["infomec_nmi"] == card_metrics["matrices"]["infomec_nmi"]
    assert np.array_equal(
        np.asarray(body["matrices"]["dci_importance"]), np.asarray(card_metrics["matrices"]["dci_importance"]).T
    )
    assert body["active"] == [d != 5 for d in range(D)] and body["values"] == card_metrics["values"]
    # the server's dim names: only one dim reaches the naming threshold
    assert body["dim_names"][NAMED_DIM] == {"factor": "wall_hue", "nmi": 0.8}
    assert [d for d, name in enumerate(body["dim_names"]) if name] == [NAMED_DIM]


def test_the_traversal_sheet_labels_dims_with_their_factor(metrics_client, client, ids, model_infos):
    """The named dim's label ("z3 · wall_hue (NMI 0.80)") is wider than "z3": the label column widens."""
    body = {"latent": model_infos[ids.vae]["latent_mean"], "dims": [NAMED_DIM], "steps": 3, "format": "png", "scale": 1}
    named = _open(metrics_client.post(f"/api/models/{ids.vae}/traverse/export", json=body), "image/png")
    plain = _open(client.post(f"/api/models/{ids.vae}/traverse/export", json=body), "image/png")
    assert named.height == plain.height and named.width > plain.width
