"""The EOFlow endpoints: truncate (top-C decoding), entropy, denoise; encode / decode /
traverse on a flow; and every refusal, including these endpoints on a model without ordered
latents (a QLAE)."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest
from api_assertions import assert_detail as _detail
from fastapi.testclient import TestClient
from flow_models import ABLATION_ID, DIM, FLOW_ID, QLAE_ID
from flow_models import data_url_pixels as _image
from flow_models import gradient_png as _png
from PIL import Image

from latentatlas.config import Settings
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import model_config
from latentatlas.nets import NetConfig
from latentatlas.serve.app import create_app
from latentatlas.train import TrainConfig, train

# -- description -------------------------------------------------------------------------


def test_model_info_says_which_models_truncate(flow_client):
    models = {m["id"]: m for m in flow_client.get("/api/models").json()["models"]}
    flow, qlae = models[FLOW_ID]["capabilities"], models[QLAE_ID]["capabilities"]
    assert flow == {
        "encode": True,
        "decode": True,
        "codes": False,
        "posterior": False,
        "ordered": True,
        "likelihood": True,
        "sample": True,
        "train": True,
        "retrieval": True,
        "probe_decoder": False,
    }
    assert models[FLOW_ID]["latent_dim"] == DIM
    assert qlae == {
        "encode": True,
        "decode": True,
        "codes": True,
        "posterior": False,
        "ordered": False,
        "likelihood": False,
        "sample": True,
        "train": True,
        "retrieval": True,
        "probe_decoder": False,
    }
    assert models[FLOW_ID]["truncation_fill"] == 0.0 and models[QLAE_ID]["truncation_fill"] is None
    grid, curve = models[FLOW_ID]["keep_grid"], models[FLOW_ID]["curve_keep_grid"]  # the C values the app offers
    assert (
        grid[0] == curve[0] == 1
        and grid[-1] == curve[-1] == DIM
        and set(curve) <= set(grid)
        and grid == sorted(set(grid))
    )
    assert models[QLAE_ID]["keep_grid"] is None and models[QLAE_ID]["curve_keep_grid"] is None


def test_the_declared_truncation_rule_is_what_truncate_does(flow_client):
    """Top-C decoding is /decode of the latent with entries C.. set to ``truncation_fill``: a
    client can truncate by itself."""
    fill = flow_client.get(f"/api/models/{FLOW_ID}").json()["truncation_fill"]
    latent = flow_client.post(f"/api/models/{FLOW_ID}/encode", json={"dataset_index": 3}).json()["latent"]
    keep = 16
    truncated = flow_client.post(f"/api/models/{FLOW_ID}/truncate", json={"dataset_index": 3, "keep": [keep]}).json()
    decoded = flow_client.post(f"/api/models/{FLOW_ID}/decode", json={"latent": latent[:keep] + [fill] * (DIM - keep)})
    assert decoded.status_code == 200
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(decoded.content))), _image(truncated["results"][0]["image"]))


def test_a_flows_detail_carries_the_held_out_curves_of_the_other_flows_on_its_data(flow_client):
    detail = flow_client.get(f"/api/models/{FLOW_ID}").json()
    ablation = flow_client.get(f"/api/models/{ABLATION_ID}").json()
    (peer,) = detail["peers"]
    assert peer["id"] == ABLATION_ID and peer["differs"] == "lambda_mtc 0.0 (here 0.5)"
    flow = ablation["card"]["flow"]
    assert peer["truncation"] == flow["truncation"] and peer["denoise"] == flow["denoise"]
    assert peer["bits_per_dim"] == flow["bits_per_dim"]
    assert [p["id"] for p in ablation["peers"]] == [FLOW_ID] and ablation["peers"][0][
        "differs"
    ] == "lambda_mtc 0.5 (here 0.0)"
    assert flow_client.get(f"/api/models/{QLAE_ID}").json()["peers"] == []  # not ordered: nothing to compare


# -- truncate ----------------------------------------------------------------------------


def test_truncate_list_by_index(flow_client):
    keep = [1, 4, 16, 64, 128, DIM]
    response = flow_client.post(f"/api/models/{FLOW_ID}/truncate", json={"dataset_index": 3, "keep": keep})
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert body["latent_dim"] == DIM and [r["keep"] for r in body["results"]] == keep
    _image(body["input"])
    for result in body["results"]:
        _image(result["image"])
    psnrs = [r["psnr"] for r in body["results"]]
    assert all(b >= a - 0.5 for a, b in itertools.pairwise(psnrs)), psnrs  # non-decreasing up to float noise
    assert psnrs[-1] >= 60, psnrs  # all latents kept: the flow is invertible
    assert np.array_equal(_image(body["results"][-1]["image"]), _image(body["input"]))


def test_truncate_upload_with_form_keep(flow_client):
    response = flow_client.post(
        f"/api/models/{FLOW_ID}/truncate", files={"image": ("a.png", _png(), "image/png")}, data={"keep": "4,16,256"}
    )
    assert response.status_code == 200, response.text[:500]
    results = response.json()["results"]
    assert [r["keep"] for r in results] == [4, 16, 256] and results[-1]["psnr"] >= 60


def test_truncate_single_keep(flow_client):
    response = flow_client.post(f"/api/models/{FLOW_ID}/truncate", json={"dataset_index": 0, "keep": 8})
    assert response.status_code == 200, response.text[:500]
    assert [r["keep"] for r in response.json()["results"]] == [8]


@pytest.mark.parametrize(
    ("body", "keywords"),
    [
        ({"dataset_index": 0, "keep": [0]}, ["keep 0", "1..256"]),
        ({"dataset_index": 0, "keep": [4, 257]}, ["keep 257", "1..256"]),
        ({"dataset_index": 0, "keep": -3}, ["keep -3"]),
        ({"dataset_index": 0, "keep": []}, ["keep", "empty"]),
        ({"dataset_index": 0, "keep": ["x"]}, ["keep"]),
        ({"dataset_index": 0}, ["keep", "required"]),
        ({"dataset_index": 0, "keep": [4], "extra": 1}, ["extra"]),
        ({"dataset_index": 10**9, "keep": [4]}, ["dataset_index", "out of range"]),
    ],
)
def test_truncate_refusals(flow_client, body, keywords):
    _detail(flow_client.post(f"/api/models/{FLOW_ID}/truncate", json=body), 422, *keywords)


@pytest.mark.parametrize(
    ("keep", "keywords"), [("", ["keep", "empty"]), ("0", ["keep 0"]), ("4,x", ["keep"]), ("4,300", ["keep 300"])]
)
def test_truncate_form_refusals(flow_client, keep, keywords):
    response = flow_client.post(
        f"/api/models/{FLOW_ID}/truncate", files={"image": ("a.png", _png(), "image/png")}, data={"keep": keep}
    )
    _detail(response, 422, *keywords)


def test_truncate_refuses_non_images(flow_client):
    response = flow_client.post(
        f"/api/models/{FLOW_ID}/truncate",
        files={"image": ("a.png", b"not an image at all", "image/png")},
        data={"keep": "4"},
    )
    _detail(response, 415, "not a supported image")
    response = flow_client.post(
        f"/api/models/{FLOW_ID}/truncate", files={"image": ("a.png", b"", "image/png")}, data={"keep": "4"}
    )
    _detail(response, 422, "empty")
    _detail(
        flow_client.post(f"/api/models/{FLOW_ID}/truncate", content=b"keep=4", headers={"content-type": "text/plain"}),
        415,
    )


# -- entropy -----------------------------------------------------------------------------


def test_entropy(flow_client):
    response = flow_client.get(f"/api/models/{FLOW_ID}/entropy")
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    entropy, share, error = (
        np.array(body["entropy"]),
        np.array(body["cumulative_share"]),
        np.array(body["standard_error"]),
    )
    assert entropy.shape == share.shape == error.shape == (DIM,)
    assert np.all(error > 0) and np.median(error) < np.std(entropy)  # held-out estimates, with their errors
    assert np.all(np.isfinite(entropy)) and abs(body["total"] - entropy.sum()) < 1e-6 * max(1, abs(entropy.sum()))
    assert np.all(np.diff(entropy) <= 1e-6)  # the ordering fixed at the end of training
    assert np.all(np.diff(share) >= 0) and share[-1] == 1.0 and share[0] >= 0
    assert flow_client.get(f"/api/models/{FLOW_ID}/entropy").json() == body  # measured once, served the same


# -- denoise -----------------------------------------------------------------------------


def test_denoise_by_index_is_reproducible(flow_client):
    body = {"dataset_index": 5, "sigma": 0.2, "keep": 32, "seed": 7}
    first = flow_client.post(f"/api/models/{FLOW_ID}/denoise", json=body)
    assert first.status_code == 200, first.text[:500]
    result = first.json()
    for key in ("clean", "noisy", "denoised"):
        _image(result[key])
    assert result["sigma"] == 0.2 and result["keep"] == 32 and result["seed"] == 7
    assert np.isfinite(result["noisy_psnr"]) and np.isfinite(result["denoised_psnr"])
    assert result["noisy_psnr"] < 30  # sigma 0.2 noise is visible
    assert flow_client.post(f"/api/models/{FLOW_ID}/denoise", json=body).json() == result


def test_denoise_upload_defaults(flow_client):
    response = flow_client.post(
        f"/api/models/{FLOW_ID}/denoise",
        files={"image": ("a.png", _png(), "image/png")},
        data={"keep": "256", "sigma": "0"},
    )
    assert response.status_code == 200, response.text[:500]
    result = response.json()
    assert (
        result["sigma"] == 0 and result["keep"] == DIM and result["noisy_psnr"] >= 100 and result["denoised_psnr"] >= 60
    )
    defaults = flow_client.post(f"/api/models/{FLOW_ID}/denoise", json={"dataset_index": 0}).json()
    assert defaults["sigma"] == 0.1 and defaults["keep"] == DIM // 16 and isinstance(defaults["seed"], int)


@pytest.mark.parametrize(
    ("body", "keywords"),
    [
        ({"dataset_index": 0, "sigma": -0.1}, ["sigma"]),
        ({"dataset_index": 0, "sigma": 1.5}, ["sigma"]),
        ({"dataset_index": 0, "keep": 0}, ["keep 0", "1..256"]),
        ({"dataset_index": 0, "keep": 1000}, ["keep 1000"]),
        ({"dataset_index": 0, "seed": -1}, ["seed"]),
        ({"dataset_index": 0, "keep": [4, 8]}, ["keep"]),
    ],
)
def test_denoise_refusals(flow_client, body, keywords):
    _detail(flow_client.post(f"/api/models/{FLOW_ID}/denoise", json=body), 422, *keywords)


def test_denoise_refuses_nan_sigma_and_non_images(flow_client):
    text = json.dumps({"dataset_index": 0, "sigma": float("nan")})
    _detail(
        flow_client.post(
            f"/api/models/{FLOW_ID}/denoise", content=text.encode(), headers={"content-type": "application/json"}
        ),
        422,
        "sigma",
    )
    response = flow_client.post(
        f"/api/models/{FLOW_ID}/denoise", files={"image": ("a.png", b"GIF89a garbage", "image/gif")}
    )
    assert response.status_code in (415, 422), response.text[:300]
    _detail(
        flow_client.post(
            f"/api/models/{FLOW_ID}/denoise", files={"image": ("a.png", _png(), "image/png")}, data={"sigma": "2"}
        ),
        422,
        "sigma",
    )


# -- not a flow, unknown model -------------------------------------------------------------


def test_qlae_refuses_flow_endpoints(flow_client):
    responses = {
        "truncate": flow_client.post(f"/api/models/{QLAE_ID}/truncate", json={"dataset_index": 0, "keep": [2]}),
        "truncate upload": flow_client.post(
            f"/api/models/{QLAE_ID}/truncate", files={"image": ("a.png", _png(), "image/png")}, data={"keep": "2"}
        ),
        "denoise": flow_client.post(f"/api/models/{QLAE_ID}/denoise", json={"dataset_index": 0}),
    }
    for _route, response in responses.items():
        _detail(response, 409, QLAE_ID, "capabilities.ordered")
    _detail(flow_client.get(f"/api/models/{QLAE_ID}/entropy"), 409, QLAE_ID, "entropy")


def test_unknown_model_is_404(flow_client):
    for response in (
        flow_client.post("/api/models/nope/truncate", json={"dataset_index": 0, "keep": [2]}),
        flow_client.get("/api/models/nope/entropy"),
        flow_client.post("/api/models/nope/denoise", json={"dataset_index": 0}),
    ):
        _detail(response, 404, "unknown model", "nope")


# -- the generic endpoints on a flow ----------------------------------------------------------


def test_encode_decode_traverse_on_a_flow(flow_client):
    encoded = flow_client.post(f"/api/models/{FLOW_ID}/encode", json={"dataset_index": 2})
    assert encoded.status_code == 200, encoded.text[:500]
    body = encoded.json()
    assert len(body["latent"]) == DIM and body["codes"] is None
    assert np.array_equal(_image(body["reconstruction"]), _image(body["input"]))  # invertible
    decoded = flow_client.post(f"/api/models/{FLOW_ID}/decode", json={"latent": body["latent"]})
    assert decoded.status_code == 200 and decoded.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(decoded.content))), _image(body["input"]))
    traversed = flow_client.post(f"/api/models/{FLOW_ID}/traverse", json={"latent": body["latent"], "steps": 5})
    assert traversed.status_code == 200, traversed.text[:500]
    assert traversed.json()["dims"] == list(range(16))  # default: the 16 most important latents
    chosen = flow_client.post(
        f"/api/models/{FLOW_ID}/traverse", json={"latent": body["latent"], "dims": [0, 255], "steps": 3}
    )
    assert chosen.status_code == 200 and chosen.json()["dims"] == [0, 255]
    assert flow_client.get("/healthz").json() == {"status": "ok"}


def test_generate_is_refused_for_a_model_without_a_prior(tmp_path):
    """A plain autoencoder has no prior: 409 naming the capability."""
    net = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=16)
    run = TrainConfig(steps=2, batch_size=8, threads=1, device="cpu", log_every=1)
    train(
        model_config(kind="ae", latent_dim=3, net=net),
        DatasetSpec(name="dsprites", image_size=16),
        run,
        tmp_path / "ae-tiny",
        progress=False,
    )
    with TestClient(create_app(Settings(models_dir=tmp_path))) as client:
        info = client.get("/api/models/ae-tiny").json()
        assert info["capabilities"]["sample"] is False
        _detail(client.post("/api/models/ae-tiny/generate", json={"n": 1}), 409, "ae-tiny", "capabilities.sample")
