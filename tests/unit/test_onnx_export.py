"""ONNX export of a model's decoder and encoder: every family's graphs agree with torch, the
cache is keyed by the weights, and a part that cannot be exported is reported, not fatal."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch

from latentatlas.data.spec import DatasetSpec
from latentatlas.export import onnx as onnx_export
from latentatlas.export.onnx import AGREEMENT_TOLERANCE, cache_folder, export_onnx, model_digest
from latentatlas.families import build_model, families, model_config
from latentatlas.nets import NetConfig
from latentatlas.store.folders import FolderConfig, load_model_folder, save_model_folder

NET = {"image_size": 16, "channels": 1, "widths": (4, 4), "hidden": 16}
FAMILY_OPTIONS = {"eoflow": {"latent_dim": 256, "flow_levels": 1, "flow_blocks": 1, "flow_hidden": 8}}


def tiny_folder(tmp_path, kind: str, seed: int = 0):
    """An untrained (randomly initialised, seeded) model of ``kind`` saved as a model folder."""
    torch.manual_seed(seed)
    options = {"latent_dim": 4, **FAMILY_OPTIONS.get(kind, {})}
    config = model_config(kind=kind, net=NetConfig(**NET), **options)
    model = build_model(config)
    if model.init_samples:  # data-dependent initialisation, as training does before its first step
        model.initialize(torch.rand(model.init_samples, 1, 16, 16, generator=torch.Generator().manual_seed(seed)))
    model.eval()
    folder = tmp_path / f"{kind}-{seed}"
    save_model_folder(
        folder, FolderConfig(model=config, dataset=DatasetSpec(name="dsprites", image_size=16)), model, {}
    )
    return folder


def run(path, name, values):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {name: values})[0]


@pytest.mark.parametrize("kind", sorted(kind for kind, family in families().items() if family.capabilities.train))
def test_every_trained_family_exports_graphs_that_agree_with_torch(tmp_path, kind):
    folder = tiny_folder(tmp_path, kind)
    result = export_onnx(folder, tmp_path / "cache")
    loaded = load_model_folder(folder)
    model = loaded.model.eval()
    decodes = model.capabilities.decode  # an encoder-only family (contrastive) exports its encoder alone
    assert result.unavailable == (
        {} if decodes else {"decoder": "the model has no decoder (capabilities.decode is false)"}
    )
    assert set(result.parts) == ({"decoder", "encoder"} if decodes else {"encoder"})
    cache = cache_folder(tmp_path / "cache", result.digest)
    # independent of the export's own check: fresh latents and images, batch sizes it never saw
    latents = torch.randn(5, loaded.config.model.latent_dim, generator=torch.Generator().manual_seed(7))
    images = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(8))
    with torch.inference_mode():
        encoded = model.encode(images).latent.numpy()
        if decodes:
            decoded = model.decode(latents).numpy()
            assert np.abs(run(cache / "decoder.onnx", "latent", latents.numpy()) - decoded).max() <= AGREEMENT_TOLERANCE
    assert np.abs(run(cache / "encoder.onnx", "image", images.numpy()) - encoded).max() <= AGREEMENT_TOLERANCE
    for part in result.parts.values():
        assert part.max_abs_error <= AGREEMENT_TOLERANCE
        assert part.bytes == (cache / part.file).stat().st_size


def test_the_cache_is_keyed_by_the_weights(tmp_path):
    folder = tiny_folder(tmp_path, "vae")
    first = export_onnx(folder, tmp_path / "cache")
    decoder = cache_folder(tmp_path / "cache", first.digest) / "decoder.onnx"
    written = decoder.stat().st_mtime_ns
    assert export_onnx(folder, tmp_path / "cache") == first
    assert decoder.stat().st_mtime_ns == written  # not exported again
    other = tiny_folder(tmp_path, "vae", seed=1)
    (folder / "weights.safetensors").write_bytes((other / "weights.safetensors").read_bytes())
    assert model_digest(folder) != first.digest
    second = export_onnx(folder, tmp_path / "cache")
    assert second.digest != first.digest and second.parts["decoder"].sha256 != first.parts["decoder"].sha256


def test_a_part_that_fails_is_reported_by_name_and_the_rest_still_exports(tmp_path, monkeypatch):
    folder = tiny_folder(tmp_path, "qlae")
    real = onnx_export._export_graph

    def no_encoder(module, example, path, input_name, output_name):
        if input_name == "image":
            raise RuntimeError("Exporting the operator 'aten::made_up' to ONNX opset version 17 is not supported")
        real(module, example, path, input_name, output_name)

    monkeypatch.setattr(onnx_export, "_export_graph", no_encoder)
    result = export_onnx(folder, tmp_path / "cache")
    assert set(result.parts) == {"decoder"}
    assert "aten::made_up" in result.unavailable["encoder"]
    assert not (cache_folder(tmp_path / "cache", result.digest) / "encoder.onnx").exists()


def test_a_graph_that_disagrees_with_torch_is_not_kept(tmp_path, monkeypatch):
    folder = tiny_folder(tmp_path, "ae")
    real = onnx_export._run_onnx
    monkeypatch.setattr(onnx_export, "_run_onnx", lambda path, name, values: real(path, name, values) + 0.01)
    result = export_onnx(folder, tmp_path / "cache")
    assert result.parts == {}
    assert "differs from torch's by 0.01" in result.unavailable["decoder"]
