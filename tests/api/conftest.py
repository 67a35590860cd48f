"""A models folder with two tiny trained models and two broken folders, and a test client
serving it (the app's lifespan loads the registry); a tiny flow and a QLAE for the ordered-latent
tests (flow_models.py), and a client serving them."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import flow_models
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from latentatlas.config import Settings
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import model_config
from latentatlas.nets import NetConfig
from latentatlas.serve.app import create_app
from latentatlas.train import TrainConfig, train

QLAE_ID, VAE_ID = "qlae-dsprites", "vae-shapes3d"
BROKEN_CONFIG_ID, BROKEN_WEIGHTS_ID = "broken-config", "broken-weights"
MAX_UPLOAD_BYTES, MAX_IMAGE_PIXELS = 200_000, 4_000_000


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    run = TrainConfig(steps=15, batch_size=16, threads=1, device="cpu", log_every=5, checkpoint_every=5, seed=0)
    for model_id, kind, latent_dim, dataset, channels in (
        (QLAE_ID, "qlae", 10, "dsprites", 1),
        (VAE_ID, "vae", 12, "shapes3d", 3),
    ):
        net = NetConfig(image_size=32, channels=channels, widths=(8, 8, 8), hidden=64)
        config = model_config(kind=kind, latent_dim=latent_dim, net=net)
        train(config, DatasetSpec(name=dataset, image_size=32), run, root / model_id, progress=False)
    # A folder whose config.json is garbage.
    (root / BROKEN_CONFIG_ID).mkdir()
    (root / BROKEN_CONFIG_ID / "config.json").write_text("{this is not json")
    (root / BROKEN_CONFIG_ID / "weights.safetensors").write_bytes(b"\x00" * 16)
    # A valid config with truncated weights.
    (root / BROKEN_WEIGHTS_ID).mkdir()
    (root / BROKEN_WEIGHTS_ID / "config.json").write_text((root / QLAE_ID / "config.json").read_text())
    weights = (root / QLAE_ID / "weights.safetensors").read_bytes()
    (root / BROKEN_WEIGHTS_ID / "weights.safetensors").write_bytes(weights[: len(weights) // 2])
    # Not a model folder at all: ignored, neither served nor failed.
    (root / "notes").mkdir()
    (root / "notes" / "README.txt").write_text("not a model")
    return root


@pytest.fixture(scope="session")
def settings(models_dir) -> Settings:
    return Settings(
        models_dir=models_dir, torch_threads=1, max_upload_bytes=MAX_UPLOAD_BYTES, max_image_pixels=MAX_IMAGE_PIXELS
    )


@pytest.fixture(scope="session")
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def model_infos(client) -> dict[str, dict]:
    """/api/models, by id."""
    response = client.get("/api/models")
    assert response.status_code == 200
    return {model["id"]: model for model in response.json()["models"]}


class ModelIds:
    qlae = QLAE_ID
    vae = VAE_ID
    broken = (BROKEN_CONFIG_ID, BROKEN_WEIGHTS_ID)


@pytest.fixture(scope="session")
def ids() -> type[ModelIds]:
    """The served model ids (``ids.qlae``, ``ids.vae``) and the broken folders' names."""
    return ModelIds


def _data_url_image(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:40]
    image = Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))
    assert image.format == "PNG"
    image.load()
    return image


@pytest.fixture(scope="session")
def data_url_image():
    """``data_url_image(url)``: decode a ``data:image/png;base64,...`` URL to a loaded PIL image."""
    return _data_url_image


@pytest.fixture(scope="session")
def flow_models_dir(tmp_path_factory):
    """A tiny EOFlow, its ablation without the explained-entropy term, and a QLAE, on 16 px dSprites."""
    root = tmp_path_factory.mktemp("flow-models")
    run = TrainConfig(steps=5, batch_size=16, threads=1, device="cpu", log_every=5, checkpoint_every=5, seed=0)
    net = NetConfig(image_size=flow_models.SIZE, channels=1, widths=(8, 8))
    spec = DatasetSpec(name="dsprites", image_size=flow_models.SIZE)
    flow = model_config(kind="eoflow", latent_dim=flow_models.DIM, flow_blocks=2, flow_hidden=16, net=net)
    train(flow, spec, run, root / flow_models.FLOW_ID, progress=False)
    train(flow.model_copy(update={"lambda_mtc": 0.0}), spec, run, root / flow_models.ABLATION_ID, progress=False)
    train(
        model_config(kind="qlae", latent_dim=6, net=net.model_copy(update={"hidden": 32})),
        spec,
        run,
        root / flow_models.QLAE_ID,
        progress=False,
    )
    return root


@pytest.fixture(scope="session")
def flow_client(flow_models_dir):
    with TestClient(create_app(Settings(models_dir=flow_models_dir, torch_threads=1))) as test_client:
        yield test_client
