"""Every shipped model (ensemble members and the zoo's showcase members included) exports its decoder and encoder to ONNX, and
onnxruntime agrees with torch on 64 random latents and 16 dataset images: max abs pixel
difference <= 1e-3 (the encoder through the torch decoder, so also in pixels). An encoder-only
model (a contrastive backbone) exports its encoder alone, the decoder named unavailable, and its
ONNX latents agree with torch's within 1e-3 of their scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from latentatlas.data.registry import load_dataset
from latentatlas.export.onnx import cache_folder, export_onnx
from latentatlas.store.folders import load_model_folder

MODELS = Path(__file__).resolve().parents[2] / "models"
# every folder with weights (a zoo ships the weights of its showcase members only)
SHIPPED = sorted(p.parent for p in MODELS.rglob("weights.safetensors") if (p.parent / "config.json").is_file())
PIXEL_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.parametrize("folder", SHIPPED, ids=[str(p.relative_to(MODELS)) for p in SHIPPED])
def test_shipped_model_runs_in_onnx_runtime_like_torch(folder, cache):
    result = export_onnx(folder, cache)
    loaded = load_model_folder(folder)
    model = loaded.model.eval()
    expected = (
        {} if model.capabilities.decode else {"decoder": "the model has no decoder (capabilities.decode is false)"}
    )
    assert result.unavailable == expected, result.unavailable
    sessions = {
        name: onnxruntime.InferenceSession(
            str(cache_folder(cache, result.digest) / part.file), providers=["CPUExecutionProvider"]
        )
        for name, part in result.parts.items()
    }
    generator = torch.Generator().manual_seed(1)
    stats = loaded.card.get("latent_stats", {})
    dim = loaded.config.model.latent_dim
    latents = torch.tensor(stats.get("mean", [0.0] * dim)) + torch.tensor(stats.get("std", [1.0] * dim)) * torch.randn(
        64, dim, generator=generator
    )
    dataset = load_dataset(loaded.config.dataset)
    images = dataset.images(np.sort(np.random.default_rng(1).choice(len(dataset), 16, replace=False))).float()
    if not model.capabilities.decode:
        with torch.inference_mode():
            encoded = model.encode(images).latent.numpy()
        onnx_latents = sessions["encoder"].run(None, {"image": images.numpy()})[0]
        assert np.abs(onnx_latents - encoded).max() <= PIXEL_TOLERANCE * max(1.0, float(np.abs(encoded).max()))
        return
    with torch.inference_mode():
        decoded = model.decode(latents).numpy()
        encoded = model.encode(images).latent
        reconstructed = model.decode(encoded).numpy()
        onnx_latents = torch.from_numpy(sessions["encoder"].run(None, {"image": images.numpy()})[0])
        reconstructed_from_onnx = model.decode(onnx_latents).numpy()
    decoder_error = float(np.abs(sessions["decoder"].run(None, {"latent": latents.float().numpy()})[0] - decoded).max())
    encoder_error = float(np.abs(reconstructed_from_onnx - reconstructed).max())
    print(f"{folder.relative_to(MODELS)}: decoder {decoder_error:.1e}, encoder (in pixels) {encoder_error:.1e}")
    assert decoder_error <= PIXEL_TOLERANCE
    assert encoder_error <= PIXEL_TOLERANCE
