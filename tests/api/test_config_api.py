"""GET /api/config: the limits the app reads instead of hard-coding them, equal to what the
endpoints enforce."""

from __future__ import annotations

import io

from PIL import Image

from conftest import MAX_IMAGE_PIXELS, MAX_UPLOAD_BYTES


def test_config_reports_the_servers_limits(client, settings):
    config = client.get("/api/config").json()
    assert config["max_upload_bytes"] == MAX_UPLOAD_BYTES == settings.max_upload_bytes
    assert config["max_image_pixels"] == MAX_IMAGE_PIXELS
    assert config["max_decode_batch"] == settings.max_decode_batch
    assert config["max_batch_images"] == settings.max_batch_images
    assert config["max_decoded_pixels"] == settings.max_decoded_pixels
    assert set(config["accepted_image_types"]) == {"image/png", "image/jpeg", "image/webp", "image/gif"}
    for name in ("traverse_steps", "generate_n", "samples_n", "population_n"):
        bounds = config[name]
        assert bounds["min"] <= bounds["default"] <= bounds["max"], name


def test_config_bounds_are_the_ones_the_endpoints_enforce(client, ids, model_infos):
    config = client.get("/api/config").json()
    latent = [0.0] * model_infos[ids.vae]["latent_dim"]
    steps = config["traverse_steps"]
    traverse = f"/api/models/{ids.vae}/traverse"
    assert client.post(traverse, json={"latent": latent, "dims": [0], "steps": steps["max"]}).status_code == 200
    assert client.post(traverse, json={"latent": latent, "dims": [0], "steps": steps["max"] + 1}).status_code == 422
    assert client.post(traverse, json={"latent": latent, "dims": [0], "steps": steps["min"] - 1}).status_code == 422
    samples = config["samples_n"]
    assert client.get(f"/api/models/{ids.vae}/samples?n={samples['max'] + 1}").status_code == 422
    population = config["population_n"]
    assert client.get(f"/api/models/{ids.vae}/population?n={population['max'] + 1}").status_code == 422
    assert client.get(f"/api/models/{ids.vae}/population?n={population['min'] - 1}").status_code == 422
    generate = config["generate_n"]
    assert client.post(f"/api/models/{ids.vae}/generate", json={"n": generate["max"] + 1}).status_code == 422


def test_an_upload_over_the_configured_limit_is_refused(client, ids):
    limit = client.get("/api/config").json()["max_upload_bytes"]
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    data = buffer.getvalue() + b"\0" * (limit + 1 - len(buffer.getvalue()))
    reply = client.post(f"/api/models/{ids.vae}/encode", files={"image": ("big.png", data, "image/png")})
    assert reply.status_code == 413 and str(limit) in reply.json()["detail"]
