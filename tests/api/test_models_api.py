"""The HTTP API: health, model descriptions, encode / decode / traverse / samples, and
every refusal (status code and a `detail` that says what was wrong)."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
import torch
from api_assertions import assert_detail as _detail
from fastapi.testclient import TestClient
from PIL import Image

from latentatlas.config import Settings
from latentatlas.data.dsprites import DSprites
from latentatlas.data.shapes3d import Shapes3D
from latentatlas.serve.app import create_app
from latentatlas.serve.images import decode_upload
from latentatlas.store import load_model_folder

# -- helpers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_models(models_dir, ids):
    """The same model folders loaded in-process: the reference the API's answers are checked against."""
    return {model_id: load_model_folder(models_dir / model_id) for model_id in (ids.qlae, ids.vae)}


@pytest.fixture(scope="module")
def datasets(local_models, ids):
    return {
        ids.qlae: DSprites(local_models[ids.qlae].config.dataset),
        ids.vae: Shapes3D(local_models[ids.vae].config.dataset),
    }


def _upload(
    client, model_id: str, data: bytes, filename: str = "upload.png", field: str = "image", mime: str = "image/png"
):
    return client.post(f"/api/models/{model_id}/encode", files={field: (filename, data, mime)})


def _by_index(client, model_id: str, body) -> object:
    return client.post(f"/api/models/{model_id}/encode", json=body)


def _raw(client, url: str, text: str, content_type: str = "application/json"):
    """POST a body as is (JSON text with NaN, which ``json=`` cannot send, or anything else)."""
    return client.post(url, content=text.encode(), headers={"content-type": content_type})


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def _tensor_pixels(image: torch.Tensor) -> np.ndarray:
    """What ``to_png`` stores for a (C, H, W) float image, as (H, W[, C]) ints."""
    array = (image.clamp(0, 1) * 255).round().to(torch.int16).permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


# -- health -----------------------------------------------------------------------------


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_503_while_configured_models_are_broken(client, ids, settings):
    """Two models serve, but the folder also holds broken ones: not ready, and why, with no
    server paths in the reasons."""
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready" and body["models"] == 2 and "failed" in body["reason"]
    assert set(body["failed"]) == set(ids.broken)  # the notes folder (no model files) is not a model at all
    for name, reason in body["failed"].items():
        assert isinstance(reason, str) and reason, name
        assert str(settings.models_dir) not in reason and str(settings.models_dir.resolve()) not in reason


@pytest.mark.parametrize("layout", ["missing", "empty", "only-broken", "healthy"])
def test_readyz_means_models_are_served(tmp_path, local_models, ids, layout):
    import shutil

    from latentatlas.config import Settings

    root = tmp_path / "models"
    if layout != "missing":
        root.mkdir()
    if layout == "only-broken":
        (root / "bad").mkdir()
        (root / "bad" / "config.json").write_text("{not json")
    if layout == "healthy":
        shutil.copytree(local_models[ids.qlae].folder, root / ids.qlae)
    with TestClient(create_app(Settings(models_dir=root))) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # alive either way
    if layout == "healthy":
        assert response.status_code == 200 and response.json()["status"] == "ready"
        return
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready" and body["reason"]
    assert str(root) not in json.dumps(body)


def test_a_card_with_wrong_types_is_served_without_the_bad_fields(tmp_path, local_models, ids):
    """A card that parses but holds wrong types never turns the model list into a 500."""
    import shutil

    from latentatlas.config import Settings

    root = tmp_path / "models"
    shutil.copytree(local_models[ids.qlae].folder, root / "damaged")
    card = json.loads((root / "damaged" / "card.json").read_text())
    card.update(heldout="oops", steps="many", curves=[1, 2], latent_stats={"mean": [0.0]}, dataset=7)
    (root / "damaged" / "card.json").write_text(json.dumps(card))
    with TestClient(create_app(Settings(models_dir=root))) as client:
        listed = client.get("/api/models")
        assert listed.status_code == 200, listed.text
        (info,) = listed.json()["models"]
        assert info["heldout"] == {} and info["steps"] is None and len(info["latent_mean"]) == info["latent_dim"]
        assert client.get("/api/models/damaged").status_code == 200
        assert client.post("/api/models/damaged/decode", json={"latent": info["latent_mean"]}).status_code == 200


def test_openapi_and_docs(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/models",
        "/api/models/{model_id}",
        "/api/models/{model_id}/encode",
        "/api/models/{model_id}/decode",
        "/api/models/{model_id}/traverse",
        "/api/models/{model_id}/samples",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    encode_body = paths["/api/models/{model_id}/encode"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(encode_body)


def test_docs_load_every_asset_from_this_server(client):
    """Swagger UI comes from the npm-vendored copy: no CDN, every asset answers locally."""
    import re

    html = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and not any("//" in url for url in assets), assets
    for url in assets:
        assert client.get(url).status_code == 200, url


# -- describing models ------------------------------------------------------------------


def test_list_models(model_infos, ids, local_models, datasets):
    assert set(model_infos) == {ids.qlae, ids.vae}
    for model_id, info in model_infos.items():
        config = local_models[model_id].config
        dataset = datasets[model_id]
        assert info["kind"] == config.model.kind
        assert info["dataset"] == config.dataset.name and info["dataset_size"] == len(dataset)
        assert info["image_size"] == 32 and info["channels"] == dataset.channels
        assert info["latent_dim"] == config.model.latent_dim
        assert info["factor_names"] == list(dataset.factor_names)
        assert info["factor_sizes"] == list(dataset.factor_sizes)
        assert info["steps"] == local_models[model_id].card["steps"] == 15
        for key in ("latent_mean", "latent_std", "latent_min", "latent_max"):
            assert len(info[key]) == info["latent_dim"] and all(np.isfinite(info[key])), key
        assert np.isfinite(info["heldout"]["psnr_db"])
    assert model_infos[ids.qlae]["latent_dim"] == 10 and model_infos[ids.vae]["latent_dim"] == 12
    assert "iou" in model_infos[ids.qlae]["heldout"]


def test_qlae_lists_its_codebooks(model_infos, ids, local_models):
    info = model_infos[ids.qlae]
    assert info["kind"] == "qlae" and info["posterior_scale"] is None
    codebooks = np.asarray(info["codebooks"])
    model = local_models[ids.qlae]
    assert codebooks.shape == (info["latent_dim"], model.config.model.codebook_size)
    np.testing.assert_allclose(codebooks, model.model.quantizer.values.detach().numpy(), rtol=0, atol=1e-7)


def test_vae_lists_its_posterior_scale(model_infos, ids, local_models):
    info = model_infos[ids.vae]
    assert info["kind"] == "vae" and info["codebooks"] is None
    assert len(info["posterior_scale"]) == info["latent_dim"]
    assert all(scale > 0 for scale in info["posterior_scale"])
    assert info["posterior_scale"] == local_models[ids.vae].card["latent_stats"]["posterior_scale"]


@pytest.mark.parametrize("which", ["qlae", "vae"])
def test_describe_model_has_curves_and_card(client, ids, which, local_models):
    model_id = getattr(ids, which)
    response = client.get(f"/api/models/{model_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == model_id
    card = local_models[model_id].card
    assert body["curves"]["step"] == card["curves"]["step"] == [5, 10, 15]
    assert body["curves"]["loss"] == pytest.approx(card["curves"]["loss"])
    assert "recon" in body["curves"] and "seconds" in body["curves"]
    assert body["card"]["seed"] == card["seed"] and body["card"]["git_commit"] == card["git_commit"]
    assert "curves" not in body["card"] and "latent_stats" not in body["card"]


# -- encode -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_files(photo):
    """A real photograph (scikit-image's astronaut), 160x120 (not square), in each accepted format."""
    image = Image.fromarray(photo).resize((160, 120), Image.Resampling.BILINEAR)
    files = {}
    for fmt, suffix, mime in [
        ("PNG", "png", "image/png"),
        ("JPEG", "jpg", "image/jpeg"),
        ("WEBP", "webp", "image/webp"),
        ("GIF", "gif", "image/gif"),
    ]:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        files[fmt] = (f"astronaut.{suffix}", buffer.getvalue(), mime)
    return files


def _check_encoding(body: dict, info: dict, data_url_image) -> None:
    dim, size = info["latent_dim"], info["image_size"]
    assert len(body["latent"]) == dim and all(np.isfinite(body["latent"]))
    mode = "L" if info["channels"] == 1 else "RGB"
    for key in ("reconstruction", "input"):
        image = data_url_image(body[key])
        assert image.size == (size, size) and image.mode == mode, key
    if info["kind"] == "qlae":
        codes = body["codes"]
        assert len(codes) == dim and all(isinstance(c, int) for c in codes)
        assert body["latent"] == [info["codebooks"][d][c] for d, c in enumerate(codes)]
        assert body["scale"] is None
    else:
        assert body["codes"] is None
        assert len(body["scale"]) == dim and all(s > 0 for s in body["scale"])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
@pytest.mark.parametrize("which", ["qlae", "vae"])
def test_encode_uploaded_photo(client, ids, model_infos, photo_files, data_url_image, fmt, which):
    model_id = getattr(ids, which)
    filename, data, mime = photo_files[fmt]
    response = _upload(client, model_id, data, filename, mime=mime)
    assert response.status_code == 200, response.text
    _check_encoding(response.json(), model_infos[model_id], data_url_image)


@pytest.mark.parametrize("which", ["qlae", "vae"])
def test_encode_upload_matches_the_model(client, ids, photo_files, local_models, settings, which):
    model_id = getattr(ids, which)
    _, data, _ = photo_files["PNG"]
    body = _upload(client, model_id, data).json()
    loaded = local_models[model_id]
    net = loaded.config.model.net
    images = decode_upload(data, net.channels, net.image_size, settings.max_image_pixels)
    with torch.no_grad():
        encoding = loaded.model.encode(images)
    np.testing.assert_allclose(body["latent"], encoding.latent[0].numpy(), rtol=1e-5, atol=1e-5)
    if encoding.scale is not None:
        np.testing.assert_allclose(body["scale"], encoding.scale[0].numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("which", ["qlae", "vae"])
def test_encode_dataset_index(client, ids, model_infos, local_models, datasets, data_url_image, which):
    model_id = getattr(ids, which)
    dataset = datasets[model_id]
    index = len(dataset) // 3 + 7
    response = _by_index(client, model_id, {"dataset_index": index})
    assert response.status_code == 200, response.text
    body = response.json()
    _check_encoding(body, model_infos[model_id], data_url_image)
    image = dataset.images(np.array([index]))
    # The input is the dataset's image, the latent and reconstruction are the model's.
    np.testing.assert_array_equal(_pixels(data_url_image(body["input"])), _tensor_pixels(image[0]))
    model = local_models[model_id].model
    with torch.no_grad():
        encoding = model.encode(image)
        reconstruction = model.decode(encoding.latent)[0]
    np.testing.assert_allclose(body["latent"], encoding.latent[0].numpy(), rtol=1e-5, atol=1e-5)
    assert np.abs(_pixels(data_url_image(body["reconstruction"])) - _tensor_pixels(reconstruction)).max() <= 1


def test_encode_last_dataset_index(client, ids, datasets):
    last = len(datasets[ids.qlae]) - 1
    assert _by_index(client, ids.qlae, {"dataset_index": last}).status_code == 200


# -- decode -----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["qlae", "vae"])
def test_decode_returns_a_png_of_the_model_size(client, ids, model_infos, local_models, which):
    model_id = getattr(ids, which)
    info = model_infos[model_id]
    latent = info["latent_mean"]
    response = client.post(f"/api/models/{model_id}/decode", json={"latent": latent})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (32, 32)
    assert image.mode == ("L" if info["channels"] == 1 else "RGB")
    with torch.no_grad():
        expected = local_models[model_id].model.decode(torch.tensor([latent]))[0]
    assert np.abs(_pixels(image) - _tensor_pixels(expected)).max() <= 1


def test_decode_codebook_latents(client, ids, model_infos):
    codebooks = model_infos[ids.qlae]["codebooks"]
    first = client.post(f"/api/models/{ids.qlae}/decode", json={"latent": [row[0] for row in codebooks]})
    last = client.post(f"/api/models/{ids.qlae}/decode", json={"latent": [row[-1] for row in codebooks]})
    assert first.status_code == last.status_code == 200
    again = client.post(f"/api/models/{ids.qlae}/decode", json={"latent": [row[0] for row in codebooks]})
    assert again.content == first.content  # deterministic


# -- traverse ---------------------------------------------------------------------------


def _grid(response, data_url_image) -> tuple[dict, Image.Image]:
    assert response.status_code == 200, response.text
    body = response.json()
    return body, data_url_image(body["image"])


def test_traverse_qlae_sweeps_each_codebook(client, ids, model_infos, data_url_image):
    info = model_infos[ids.qlae]
    dims = [0, 3, 7]
    body, grid = _grid(
        client.post(f"/api/models/{ids.qlae}/traverse", json={"latent": info["latent_mean"], "dims": dims, "steps": 5}),
        data_url_image,
    )
    codebook_size = len(info["codebooks"][0])
    assert body["steps"] == codebook_size  # QLAE rows use the codebook, whatever steps asked for
    assert body["dims"] == dims and body["tile"] == info["image_size"]
    assert body["values"] == [sorted(info["codebooks"][d]) for d in dims]
    assert grid.size == (codebook_size * body["tile"], len(dims) * body["tile"])


def test_traverse_defaults_to_every_dimension(client, ids, model_infos, data_url_image):
    info = model_infos[ids.qlae]
    body, grid = _grid(
        client.post(f"/api/models/{ids.qlae}/traverse", json={"latent": info["latent_mean"]}), data_url_image
    )
    assert body["dims"] == list(range(info["latent_dim"]))
    assert grid.size == (body["steps"] * 32, info["latent_dim"] * 32)


def test_traverse_vae_uses_the_requested_steps(client, ids, model_infos, data_url_image):
    info = model_infos[ids.vae]
    dims, steps = [1, 2, 5], 4
    body, grid = _grid(
        client.post(
            f"/api/models/{ids.vae}/traverse", json={"latent": info["latent_mean"], "dims": dims, "steps": steps}
        ),
        data_url_image,
    )
    assert body["steps"] == steps and body["dims"] == dims
    assert grid.size == (steps * 32, len(dims) * 32) and grid.mode == "RGB"
    for d, values in zip(dims, body["values"]):
        mean, std = info["latent_mean"][d], info["latent_std"][d]
        np.testing.assert_allclose(values, np.linspace(mean - 3 * std, mean + 3 * std, steps), rtol=1e-6, atol=1e-9)


def test_traverse_tiles_are_the_decoded_sweep(client, ids, model_infos, data_url_image):
    info = model_infos[ids.vae]
    latent = info["latent_mean"]
    body, grid = _grid(
        client.post(f"/api/models/{ids.vae}/traverse", json={"latent": latent, "dims": [4, 0], "steps": 3}),
        data_url_image,
    )
    tile = body["tile"]
    row, column = 1, 2  # dimension 0 at its third value
    swept = list(latent)
    swept[body["dims"][row]] = body["values"][row][column]
    single = Image.open(io.BytesIO(client.post(f"/api/models/{ids.vae}/decode", json={"latent": swept}).content))
    crop = grid.crop((column * tile, row * tile, (column + 1) * tile, (row + 1) * tile))
    assert np.abs(_pixels(crop) - _pixels(single)).max() <= 1


# -- samples ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["qlae", "vae"])
def test_samples_are_seeded_and_describe_their_factors(client, ids, datasets, data_url_image, which):
    model_id = getattr(ids, which)
    dataset = datasets[model_id]
    first = client.get(f"/api/models/{model_id}/samples", params={"n": 3, "seed": 1})
    second = client.get(f"/api/models/{model_id}/samples", params={"n": 3, "seed": 1})
    other = client.get(f"/api/models/{model_id}/samples", params={"n": 3, "seed": 2})
    assert first.status_code == second.status_code == other.status_code == 200
    assert first.json() == second.json()
    assert first.json() != other.json()
    samples = first.json()["samples"]
    assert len(samples) == 3
    for sample in samples:
        factor_indices = np.asarray(sample["factor_indices"])
        assert int(dataset.factors_to_index(factor_indices[None])[0]) == sample["index"]
        assert list(sample["factors"]) == list(dataset.factor_names)
        for k, name in enumerate(dataset.factor_names):
            assert sample["factors"][name] == pytest.approx(dataset.factor_values[k][factor_indices[k]])
        image = data_url_image(sample["image"])
        assert image.size == (32, 32)
        np.testing.assert_array_equal(_pixels(image), _tensor_pixels(dataset.images(np.array([sample["index"]]))[0]))


def test_samples_without_a_seed(client, ids):
    response = client.get(f"/api/models/{ids.qlae}/samples", params={"n": 2})
    assert response.status_code == 200 and len(response.json()["samples"]) == 2
    assert len(client.get(f"/api/models/{ids.qlae}/samples").json()["samples"]) == 16  # the default


# -- refusals: encode -------------------------------------------------------------------


def _noise_png(side: int) -> bytes:
    array = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def test_encode_refuses_non_images(client, ids):
    _detail(_upload(client, ids.qlae, b"just some text, not a picture" * 10, "notes.png"), 415, "PNG")
    _detail(_upload(client, ids.qlae, b"%PDF-1.4\n%%EOF", "doc.pdf", mime="application/pdf"), 415)


def test_encode_refuses_other_image_formats(client, ids):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buffer, format="BMP")
    _detail(_upload(client, ids.qlae, buffer.getvalue(), "old.bmp", mime="image/bmp"), 415)


def test_encode_refuses_truncated_images(client, ids, photo_files):
    for fmt in ("PNG", "JPEG"):
        filename, data, mime = photo_files[fmt]
        _detail(_upload(client, ids.vae, data[: len(data) // 2], filename, mime=mime), 422, "truncated")


def test_encode_refuses_empty_files(client, ids):
    _detail(_upload(client, ids.qlae, b""), 422, "empty")


def test_encode_refuses_uploads_over_the_byte_limit(client, ids, settings):
    limit = settings.max_upload_bytes
    just_over = _noise_png(262)  # over the image limit, under the body limit (which allows form overhead)
    assert limit < len(just_over) < limit + 60_000
    _detail(_upload(client, ids.qlae, just_over), 413, "limit")
    far_over = _noise_png(400)  # refused from the declared content length
    assert len(far_over) > 2 * limit
    _detail(_upload(client, ids.qlae, far_over), 413, "limit")


def test_encode_refuses_a_streamed_body_over_the_limit(client, ids, settings):
    """No content-length (chunked): the limit is enforced while reading."""
    chunk = b"x" * 65_536
    chunks = iter([chunk] * (2 * settings.max_upload_bytes // len(chunk) + 4))
    response = client.post(
        f"/api/models/{ids.qlae}/encode", content=chunks, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    _detail(response, 413, "limit")


def test_encode_refuses_too_many_pixels(client, ids, settings):
    buffer = io.BytesIO()
    Image.new("L", (2100, 2000), 0).save(buffer, format="PNG")  # 4.2 megapixels in a few kilobytes
    data = buffer.getvalue()
    assert len(data) < settings.max_upload_bytes and settings.max_image_pixels < 2100 * 2000
    _detail(_upload(client, ids.qlae, data), 413, "pixels")


def test_encode_refuses_a_bomb_header_before_decoding(client, ids):
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    # Claims 50000 x 50000 RGB; the data is truncated: 413 (header check), not 422 (decoder).
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + struct.pack(">I", 1 << 20) + b"IDAT" + zlib.compress(b"\x00" * 64)[:20]
    _detail(_upload(client, ids.qlae, data), 413, "pixels")


def test_encode_multipart_without_an_image_field(client, ids, photo_files):
    _, data, mime = photo_files["PNG"]
    _detail(_upload(client, ids.qlae, data, field="file", mime=mime), 422, "image")
    response = client.post(f"/api/models/{ids.qlae}/encode", data={"image": "not a file"})  # urlencoded form
    assert response.status_code == 415
    response = client.post(
        f"/api/models/{ids.qlae}/encode", data={"image": "a text field"}, files={"other": ("x.png", data, mime)}
    )
    _detail(response, 422, "image")


def test_encode_refuses_a_malformed_multipart_body(client, ids):
    response = _raw(client, f"/api/models/{ids.qlae}/encode", "--nope\r\n\r\n", "multipart/form-data")  # no boundary
    assert response.status_code in (400, 422), response.text
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "image/png"])
def test_encode_refuses_other_content_types(client, ids, content_type):
    _detail(_raw(client, f"/api/models/{ids.qlae}/encode", '{"dataset_index": 1}', content_type), 415, "multipart")


@pytest.mark.parametrize(
    ("body", "keywords"),
    [
        ({"dataset_index": 10**9}, ["out of range"]),
        ({"dataset_index": -1}, ["dataset_index"]),
        ({"dataset_index": "seven"}, ["dataset_index"]),
        ({"index": 3}, ["dataset_index"]),
        ({"dataset_index": 3, "extra": 1}, ["extra"]),
        ([3], ["dataset_index"]),
    ],
)
def test_encode_by_index_refusals(client, ids, body, keywords):
    _detail(_by_index(client, ids.qlae, body), 422, *keywords)


def test_encode_by_index_refuses_broken_json(client, ids):
    _detail(_raw(client, f"/api/models/{ids.vae}/encode", '{"dataset_index": '), 422, "dataset_index")


# -- refusals: decode, traverse, samples ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keywords"),
    [
        (json.dumps({"latent": [0.0] * 3}), ["3 values", "expects 10"]),
        (json.dumps({"latent": [0.0] * 11}), ["11 values", "expects 10"]),
        ('{"latent": [NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0]}', ["latent", "finite"]),
        ('{"latent": [0, 0, Infinity, 0, 0, 0, 0, 0, 0, 0]}', ["latent", "finite"]),
        ('{"latent": [0, 0, 0, 0, 0, 0, 0, 0, 0, -Infinity]}', ["latent", "finite"]),
        ('{"latent": [1e999, 0, 0, 0, 0, 0, 0, 0, 0, 0]}', ["latent", "finite"]),
        (json.dumps({"latent": ["a"] * 10}), ["latent", "number"]),
        (json.dumps({"latent": "0,0,0"}), ["latent", "list"]),
        (json.dumps({"latent": []}), ["latent"]),
        (json.dumps({"latent": [0.0] * 10, "extra": 1}), ["extra"]),
        (json.dumps({}), ["latent", "required"]),
        ("not json at all", ["json"]),
    ],
)
def test_decode_refusals(client, ids, text, keywords):
    _detail(_raw(client, f"/api/models/{ids.qlae}/decode", text), 422, *keywords)


@pytest.mark.parametrize(
    ("body", "keywords"),
    [
        ({"dims": [10]}, ["dimension 10", "0..9"]),
        ({"dims": [-1]}, ["dimension -1"]),
        ({"dims": []}, ["dims", "empty"]),
        ({"dims": ["x"]}, ["dims"]),
        ({"steps": 1}, ["steps"]),
        ({"steps": 65}, ["steps"]),
        ({"latent": [0.0] * 4}, ["4 values"]),
        ({"latent": [float("nan")] * 10}, ["finite"]),
    ],
)
def test_traverse_refusals(client, ids, model_infos, body, keywords):
    request = {"latent": model_infos[ids.qlae]["latent_mean"], **body}
    text = json.dumps(request)  # json.dumps writes NaN as the bare token
    _detail(_raw(client, f"/api/models/{ids.qlae}/traverse", text), 422, *keywords)


def test_traverse_refuses_too_many_decodes(client, ids, model_infos, settings):
    info = model_infos[ids.vae]
    dims = [0, 1] * 10  # 20 rows x 64 steps = 1280 decodes
    assert len(dims) * 64 > settings.max_decode_batch
    response = client.post(
        f"/api/models/{ids.vae}/traverse", json={"latent": info["latent_mean"], "dims": dims, "steps": 64}
    )
    _detail(response, 422, "decodes", "limit")


@pytest.mark.parametrize(
    ("params", "keyword"),
    [({"n": 0}, "n"), ({"n": 10_000}, "n"), ({"n": "many"}, "n"), ({"n": 2, "seed": -1}, "seed")],
)
def test_samples_refusals(client, ids, params, keyword):
    _detail(client.get(f"/api/models/{ids.qlae}/samples", params=params), 422, keyword)


# -- unknown models ---------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ["no-such-model", "broken-config", "broken-weights"])
def test_unknown_model_is_404_on_every_route(client, model_id, photo_files, ids):
    latent = {"latent": [0.0] * 10}
    _, data, mime = photo_files["PNG"]
    responses = {
        "describe": client.get(f"/api/models/{model_id}"),
        "encode upload": client.post(f"/api/models/{model_id}/encode", files={"image": ("a.png", data, mime)}),
        "encode index": client.post(f"/api/models/{model_id}/encode", json={"dataset_index": 0}),
        "decode": client.post(f"/api/models/{model_id}/decode", json=latent),
        "traverse": client.post(f"/api/models/{model_id}/traverse", json=latent),
        "samples": client.get(f"/api/models/{model_id}/samples", params={"n": 1}),
    }
    for route, response in responses.items():
        assert response.status_code == 404, route
        detail = response.json()["detail"]
        assert "unknown model" in detail and model_id in detail, (route, detail)
        assert ids.qlae not in detail and ids.vae not in detail  # names the bad id, not the catalogue


# -- still standing ---------------------------------------------------------------------


def test_server_stays_up_after_bad_inputs(client, ids, model_infos):
    """Run last in this module: after every refusal above (and a few more here), it still serves."""
    for text in ('{"latent": [NaN]}', "[" * 10_000, '{"latent": ' + "[" * 500 + "]" * 500 + "}", "\x00\xff"):
        response = _raw(client, f"/api/models/{ids.qlae}/decode", text)
        assert response.status_code in (400, 422), response.text[:200]  # 400: too deeply nested to parse
        assert isinstance(response.json()["detail"], str)
    _raw(
        client, f"/api/models/{ids.qlae}/encode", "\x89PNG\r\n\x1a\n" + "\x00" * 100, "multipart/form-data; boundary=x"
    )
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.post(f"/api/models/{ids.qlae}/decode", json={"latent": model_infos[ids.qlae]["latent_mean"]})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert client.get("/readyz").json()["models"] == 2


def test_start_up_reads_no_dataset_and_no_weights(client, ids):
    """Start-up indexes the folders; datasets (a user's image folder can be large) and weights
    load on first use."""
    fresh = TestClient(create_app(client.app.state.settings))
    with fresh:
        registry = fresh.app.state.registry
        assert registry.loaded == {} and fresh.get("/readyz").json()["loaded"] == 0
        listed = fresh.get("/api/models").json()  # describing the models reads configs and cards
        assert {model["id"] for model in listed["models"]} == {ids.qlae, ids.vae}
        assert registry.loaded == {}
        fresh.post(f"/api/models/{ids.qlae}/encode", json={"dataset_index": 0})
        assert list(registry.loaded) == [ids.qlae] and registry.loaded[ids.qlae]._dataset is not None


# -- generation from the prior (capabilities.sample) ------------------------------------------


def test_generate_draws_quantised_latents_from_the_codebooks(client, model_infos, ids, data_url_image):
    info = model_infos[ids.qlae]
    assert info["capabilities"]["sample"] and info["capabilities"]["codes"]
    body = {"n": 5, "seed": 7}
    first = client.post(f"/api/models/{ids.qlae}/generate", json=body)
    assert first.status_code == 200, first.text
    samples = first.json()["samples"]
    assert len(samples) == 5 and first.json()["seed"] == 7
    for sample in samples:
        assert all(value in info["codebooks"][d] for d, value in enumerate(sample["latent"]))
        assert data_url_image(sample["image"]).size == (info["image_size"], info["image_size"])
    # Seeded: the same seed gives the same latents, another seed others.
    assert client.post(f"/api/models/{ids.qlae}/generate", json=body).json()["samples"] == samples
    other = client.post(f"/api/models/{ids.qlae}/generate", json={"n": 5, "seed": 8}).json()["samples"]
    assert [s["latent"] for s in other] != [s["latent"] for s in samples]


def test_generate_draws_a_vae_latent_from_its_normal_prior(client, model_infos, ids):
    reply = client.post(f"/api/models/{ids.vae}/generate", json={"n": 64, "seed": 0})
    assert reply.status_code == 200, reply.text
    latents = np.asarray([s["latent"] for s in reply.json()["samples"]])
    assert latents.shape == (64, model_infos[ids.vae]["latent_dim"])
    assert abs(latents.mean()) < 0.2 and 0.8 < latents.std() < 1.2


@pytest.mark.parametrize("body", [{"n": 0}, {"n": 65}, {"seed": -1}, {"n": "many"}, {"n": 1, "extra": 2}])
def test_generate_refuses_bad_requests(client, ids, body):
    _detail(client.post(f"/api/models/{ids.qlae}/generate", json=body), 422)


# -- what the server exposes -------------------------------------------------------------------


def test_only_the_pages_and_their_assets_are_served(client):
    for path in (
        "/",
        "/index.html",
        "/ensembles.html",
        "/styles.css",
        "/src/pages/explorer.js",
        "/vendor/plotly.js-strict-dist-min/plotly-strict.min.js",
    ):
        assert client.get(path).status_code == 200, path
    for path in (
        "/package.json",
        "/package-lock.json",
        "/node_modules/plotly.js-strict-dist-min/package.json",
        "/vendor/.package-lock.json",
        "/src/../package.json",
        "/vendor/swagger-ui-dist/../../package.json",
    ):
        assert client.get(path).status_code == 404, path


def test_responses_carry_security_headers(client, ids):
    for response in (client.get("/"), client.get("/api/models"), client.get(f"/api/models/{ids.qlae}x")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_client_that_disconnects_mid_upload_is_one_log_line(caplog):
    """An aborted upload is logged once at INFO, with no traceback, and nothing is answered."""
    import asyncio
    import logging

    from latentatlas.serve.bodies import BoundedBodies

    messages = iter([{"type": "http.request", "body": b"x" * 100, "more_body": True}, {"type": "http.disconnect"}])
    sent, reached = [], []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        reached.append(scope)

    bodies = BoundedBodies(app, json_limit=10_000, upload_limit=10_000, timeout=5, min_rate=1024, max_seconds=10)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/models/m/encode",
        "headers": [(b"content-length", b"1000")],
    }
    with caplog.at_level(logging.INFO, logger="latentatlas.serve"):
        asyncio.run(bodies(scope, receive, send))
    assert sent == [] and reached == []
    records = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.INFO and records[0].exc_info is None
    assert "100 bytes" in records[0].getMessage()


def test_cross_origin_writes_are_refused(client, ids, model_infos):
    latent = {"latent": model_infos[ids.qlae]["latent_mean"]}
    url = f"/api/models/{ids.qlae}/decode"
    assert client.post(url, json=latent).status_code == 200  # no Origin: a script, not a browser
    assert client.post(url, json=latent, headers={"Origin": "http://testserver"}).status_code == 200  # same origin
    for origin in ("http://evil.example", "null", "http://testserver.evil.example"):
        _detail(client.post(url, json=latent, headers={"Origin": origin}), 403, "cross-origin")
        _detail(
            client.post(f"/api/models/{ids.qlae}/metrics", json={}, headers={"Origin": origin}), 403, "cross-origin"
        )
    assert (
        client.get(f"/api/models/{ids.qlae}", headers={"Origin": "http://evil.example"}).status_code == 200
    )  # reads pass


def test_cross_origin_websockets_are_refused(client, ids):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(f"/api/models/{ids.qlae}/live", headers={"Origin": "http://evil.example"}) as ws:
            ws.receive_json()
    with client.websocket_connect(f"/api/models/{ids.qlae}/live", headers={"Origin": "http://testserver"}) as ws:
        ws.send_json({"latent": [0.0] * 10, "seq": 1})
        assert ws.receive_json()["seq"] == 1


def test_unknown_hosts_are_refused(client, ids):
    """DNS rebinding: a page on another name that resolves to this server gets 400."""
    assert client.get("/api/models", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/api/models", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "localhost"}).status_code == 200


def test_static_scripts_are_compressed(client):
    """Plotly (4.8 MB) travels gzipped to browsers that accept it; it decodes to the same file."""
    from latentatlas.config import Settings

    path = Settings().frontend_dir / "node_modules" / "plotly.js-strict-dist-min" / "plotly-strict.min.js"
    response = client.get("/vendor/plotly.js-strict-dist-min/plotly-strict.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
    assert response.num_bytes_downloaded < path.stat().st_size / 2
    assert response.content == path.read_bytes()  # httpx decompressed it
    module = client.get("/src/pages/explorer.js", headers={"Accept-Encoding": "gzip"})
    assert module.headers["content-encoding"] == "gzip"
    assert (
        client.get("/src/pages/explorer.js", headers={"Accept-Encoding": "identity"}).headers.get("content-encoding")
        is None
    )


# -- how an input compares with the training data ---------------------------------------------


def test_encode_says_how_the_input_compares_with_the_training_data(client, ids, model_infos, data_url_image):
    info = model_infos[ids.qlae]
    near = client.post(f"/api/models/{ids.qlae}/encode", json={"dataset_index": 5}).json()
    original = np.asarray(data_url_image(near["input"]), dtype=np.float64) / 255
    recon = np.asarray(data_url_image(near["reconstruction"]), dtype=np.float64) / 255
    assert near["psnr_db"] == pytest.approx(
        -10 * np.log10(np.mean((original - recon) ** 2)), abs=0.3
    )  # the server's PSNR
    assert near["heldout_psnr_db"] == info["heldout"]["psnr_db"] and near["bits_per_dim"] is None
    assert near["far_from_training"] is (near["psnr_db"] < info["heldout"]["psnr_db"] - 6)
    assert "trained on dsprites" in near["context"] and f"{near['psnr_db']:.1f} dB" in near["context"]

    # The rule, on this service (the tiny test model's own held-out PSNR is too low to be far from).
    from latentatlas.evaluation.novelty import FAR_BITS_PER_DIM, FAR_PSNR_DB

    service = client.app.state.registry.get(ids.qlae)
    card = service.loaded.card
    service.loaded.card = {**card, "heldout": {**card["heldout"], "psnr_db": 25.0}, "flow": {"bits_per_dim": 2.0}}
    try:
        assert service.input_context(25.0 - FAR_PSNR_DB - 0.1, None).far_from_training is True
        assert service.input_context(25.0 - FAR_PSNR_DB + 0.1, None).far_from_training is False
        assert service.input_context(30.0, 2.0 + FAR_BITS_PER_DIM + 0.1).far_from_training is True
        context = service.input_context(12.0, 2.5)
        assert (
            "far from what the model was trained on" in context.context
            and "2.50 bits/dim against 2.00" in context.context
        )
        exact = service.input_context(120.0, 2.0 + FAR_BITS_PER_DIM + 0.1)  # a flow: reconstructs, but unlikely
        assert exact.far_from_training is True and "poor reconstruction" not in exact.context
    finally:
        service.loaded.card = card


def test_inactive_dims_are_the_servers_verdict(model_infos, ids):
    vae, qlae = model_infos[ids.vae], model_infos[ids.qlae]
    assert qlae["dim_inactive"] is None  # no posterior, no verdict
    threshold = vae["collapsed_posterior_sd"]
    assert vae["dim_inactive"] == [sd >= threshold for sd in vae["posterior_scale"]]


def test_dim_information_is_kl_for_a_posterior_and_code_entropy_for_codes(client, ids, model_infos):
    vae = client.get(f"/api/models/{ids.vae}/dim-information").json()
    assert vae["measure"] == "kl_nats" and len(vae["values"]) == model_infos[ids.vae]["latent_dim"]
    assert all(v >= -1e-9 for v in vae["values"])  # a KL is never negative
    assert [vae["values"][d] for d in vae["order"]] == sorted(vae["values"], reverse=True)
    qlae = client.get(f"/api/models/{ids.qlae}/dim-information").json()
    codebook = len(model_infos[ids.qlae]["codebooks"][0])
    assert qlae["measure"] == "code_entropy_bits"
    assert all(0 <= v <= __import__("math").log2(codebook) + 1e-9 for v in qlae["values"])


def test_booleans_are_not_latent_values(client, ids, model_infos):
    latent = [True, *model_infos[ids.qlae]["latent_mean"][1:]]
    response = client.post(f"/api/models/{ids.qlae}/decode", json={"latent": latent})
    assert response.status_code == 422
    assert "latent.0" in response.json()["detail"]


def test_thousands_of_unknown_keys_get_a_short_error(client, ids, model_infos):
    body = {"latent": model_infos[ids.qlae]["latent_mean"], **{f"unknown_key_{i}": i for i in range(3000)}}
    response = client.post(f"/api/models/{ids.qlae}/decode", json=body)
    assert response.status_code == 422
    assert len(response.content) < 2000
    assert "2990 more problems" in response.json()["detail"]


def test_a_json_body_over_the_limit_is_413_before_it_is_parsed(client, ids):
    declared = {"Content-Type": "application/json", "Content-Length": str(10 * 1024 * 1024)}
    response = client.post(f"/api/models/{ids.qlae}/decode", content=b"[" * (10 * 1024 * 1024), headers=declared)
    assert response.status_code == 413
    assert "JSON body limit" in response.json()["detail"]


def test_cross_site_reads_of_the_api_are_refused(client, ids):
    """An <img> or link on another site (Sec-Fetch-Site: cross-site, no Origin) cannot make the server compute."""
    url = f"/api/models/{ids.qlae}"
    _detail(client.get(url, headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross-site")
    assert client.get(url, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert client.get(url).status_code == 200  # scripts send no Sec-Fetch-Site
    assert client.get("/healthz", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # not the API


def test_the_vendored_packages_serve_assets_not_their_package_json(client):
    assert client.get("/vendor/swagger-ui-dist/swagger-ui.css").status_code == 200
    assert client.get("/vendor/swagger-ui-dist/package.json").status_code == 404


def test_readiness_does_not_echo_a_broken_config(settings, models_dir, ids, tmp_path):
    import shutil

    served = tmp_path / "models"
    shutil.copytree(models_dir / ids.qlae, served / ids.qlae)
    broken = served / "leaky"
    shutil.copytree(models_dir / ids.qlae, broken)
    config = json.loads((broken / "config.json").read_text())
    config["model"]["latent_dim"] = "SECRET-" + "x" * 5000  # pydantic would echo it as input_value
    (broken / "config.json").write_text(json.dumps(config))
    with TestClient(create_app(Settings(**{**settings.model_dump(), "models_dir": served}))) as fresh:
        ready = fresh.get("/readyz")
    assert ready.status_code == 503 and "leaky" in ready.json()["failed"]
    assert "SECRET" not in ready.text and len(ready.json()["failed"]["leaky"]) <= 340
