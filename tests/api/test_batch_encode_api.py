"""POST /api/models/{id}/encode-batch: several uploads encoded at once, each with its latent,
reconstruction, PSNR and out-of-distribution verdict (the same as /encode gives one upload);
refusals name the file at fault and keep the per-image limits."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import MAX_IMAGE_PIXELS
from latentatlas.config import Settings
from latentatlas.serve.app import create_app


def _files(*named: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (name, data, "image/png")) for name, data in named]


def _noise(seed: int, size: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_each_file_is_encoded_as_encode_would(client, ids, image_bytes):
    uploads = [(f"dir/img{i}.png", image_bytes(_noise(i))) for i in range(3)]
    reply = client.post(f"/api/models/{ids.vae}/encode-batch", files=_files(*uploads))
    assert reply.status_code == 200, reply.text[:500]
    items = reply.json()["items"]
    assert [item["name"] for item in items] == [name for name, _ in uploads]
    for (_, data), item in zip(uploads, items, strict=True):
        single = client.post(f"/api/models/{ids.vae}/encode", files={"image": ("x.png", data, "image/png")}).json()
        assert item["latent"] == pytest.approx(single["latent"], abs=1e-4)
        assert item["psnr_db"] == pytest.approx(single["psnr_db"], abs=1e-3)
        assert item["far_from_training"] == single["far_from_training"]
        assert item["context"] == single["context"]
        assert item["input"] == single["input"] and item["reconstruction"].startswith("data:image/png;base64,")


def test_a_bad_file_is_named_with_its_status(client, ids, image_bytes):
    good = image_bytes(_noise(0))
    reply = client.post(
        f"/api/models/{ids.qlae}/encode-batch", files=_files(("a.png", good), ("notes.png", b"not an image"))
    )
    assert reply.status_code == 415 and "'notes.png' (file 2 of 2)" in reply.json()["detail"]
    empty = client.post(f"/api/models/{ids.qlae}/encode-batch", files=_files(("a.png", good), ("empty.png", b"")))
    assert empty.status_code == 422 and "'empty.png'" in empty.json()["detail"] and "empty" in empty.json()["detail"]
    side = int(MAX_IMAGE_PIXELS**0.5) + 8  # over the per-image pixel limit
    huge = image_bytes(np.zeros((side, side), dtype=np.uint8))
    reply = client.post(f"/api/models/{ids.qlae}/encode-batch", files=_files(("big.png", huge)))
    assert reply.status_code in (413, 422) and "'big.png'" in reply.json()["detail"], reply.text


def test_the_count_limit_and_an_empty_batch_are_refused(models_dir, image_bytes):
    with TestClient(create_app(Settings(models_dir=models_dir, torch_threads=1, max_batch_images=2))) as small:
        model = next(m["id"] for m in small.get("/api/models").json()["models"] if m["capabilities"]["encode"])
        three = _files(*[(f"{i}.png", image_bytes(_noise(i))) for i in range(3)])
        reply = small.post(f"/api/models/{model}/encode-batch", files=three)
        assert reply.status_code == 422 and "at most 2" in reply.json()["detail"], reply.text
        none = small.post(f"/api/models/{model}/encode-batch", files={"image": ("a.png", image_bytes(_noise(0)))})
        assert none.status_code == 422 and "'images'" in none.json()["detail"], none.text
        json_body = small.post(f"/api/models/{model}/encode-batch", json={"dataset_index": 0})
        assert json_body.status_code == 415 and "multipart" in json_body.json()["detail"]
