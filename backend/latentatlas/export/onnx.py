"""A model's decoder and encoder as ONNX graphs, for decoding in the browser (ONNX Runtime Web).

- ``decoder``: latent (N, D) float32 -> image (N, C, S, S) in [0, 1]: exactly ``model.decode``,
  the function the server's ``/decode``, ``/live`` and ``/traverse`` run (no snapping: a QLAE's
  sliders already sit on codebook values; a flow's top-C truncation is a JS step, zeroing the
  latents after the first C, as ``OrderedLatents.truncate`` does).
- ``encoder``: image (N, C, S, S) in [0, 1] -> latent (N, D): ``model.encode(images).latent``
  (a QLAE's codebook snapping and a VAE's posterior mean are inside the graph).

A model that is ONNX graphs already (an imported one: ``LatentModel.onnx_graph``) hands out its
own graph instead of an export, wrapped to the browser's convention where it differs
(:mod:`~latentatlas.export.browser_graph`). Graphs are exported once per model and cached under
``cache_dir/<digest>/``, keyed by the SHA-256 of the model's ``config.json`` and stored files
(``weights.safetensors``, or an imported model's graphs): a retrained model gets new graphs, an
unchanged one never re-exports. Each graph is checked against torch on random
latents (and images) before it is kept; a part that fails to export or to agree is recorded
with its reason and the model is served the old way (decoded on the server).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, Field, ValidationError

from latentatlas.data.registry import load_dataset
from latentatlas.families.base import LatentModel
from latentatlas.store.folders import (
    CONFIG_FILE,
    LoadedModel,
    load_model_folder,
    read_folder_config,
    write_json,
)

log = logging.getLogger("latentatlas.export")

OPSET = 17
"""ONNX opset of the exported graphs (ONNX Runtime Web 1.30 runs opsets up to 21)."""

AGREEMENT_TOLERANCE = 1e-3
"""Largest max-abs pixel (or latent) difference to torch at which a graph is kept."""

MANIFEST_FILE = "manifest.json"
PART_CAPABILITY = {"decoder": "decode", "encoder": "encode"}
"""The capability each exported graph needs."""
PART_NAMES = ("decoder", "encoder")


class OnnxPart(BaseModel):
    """One exported graph: its file (in the cache folder), size, digest and measured agreement."""

    file: str
    bytes: int
    sha256: str
    input: str
    output: str
    input_shape: list[int | str]
    output_shape: list[int | str]
    max_abs_error: float = Field(description="max |onnxruntime - torch| over the export's check batch")
    checked_on: str = Field(description="what the check ran on: '64 random latents' or '16 dataset images'")


class OnnxExport(BaseModel):
    """What was exported of one model (``parts``) and what could not be, with the reason."""

    digest: str = Field(description="SHA-256 of config.json + the stored files (weights.safetensors): the cache key")
    opset: int | None
    latent_dim: int
    image_shape: list[int]
    parts: dict[str, OnnxPart] = {}
    unavailable: dict[str, str] = Field(default_factory=dict, description="part -> why it could not be exported")


def cache_folder(cache_dir: Path, digest: str) -> Path:
    """Where the graphs of the model with ``digest`` are cached."""
    return cache_dir / digest[:32]


def model_digest(folder: Path) -> str:
    """SHA-256 over the model folder's config and the files its family stores it in (the
    export cache key)."""
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, *read_folder_config(folder).model.stored_files):
        path = folder / name
        digest.update(name.encode())
        if path.exists():
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


class _Decoder(torch.nn.Module):
    def __init__(self, model: LatentModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.decode(latent)


class _Encoder(torch.nn.Module):
    def __init__(self, model: LatentModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.encode(image).latent


def _check_inputs(loaded: LoadedModel, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """64 latents around the card's latent statistics (N(0, 1) without them), and 16 images of
    the model's dataset (the decodes of the first 16 latents when the dataset is not here),
    with a word on where the images came from."""
    dim = loaded.config.model.latent_dim
    stats = loaded.card.get("latent_stats", {}) if isinstance(loaded.card, dict) else {}
    mean = torch.tensor(stats.get("mean", [0.0] * dim), dtype=torch.float32)
    std = torch.tensor(stats.get("std", [1.0] * dim), dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    latents = mean + std * torch.randn(64, dim, generator=generator)
    try:
        dataset = load_dataset(loaded.config.dataset)
        indices = np.random.default_rng(seed).choice(len(dataset), size=min(16, len(dataset)), replace=False)
        return latents, dataset.images(np.sort(indices)).float(), "dataset images"
    except (OSError, ValueError):
        with torch.inference_mode():
            return latents, loaded.model.decode(latents[:16]), "decoded latents (the dataset is not on this machine)"


def _export_graph(
    module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str
) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with warnings.catch_warnings():
        # torch 2.13's default exporter (torch.export + onnxscript) is not installed here; the
        # TorchScript-based one exports these feed-forward graphs exactly (checked below).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "n"}, output_name: {0: "n"}},
            opset_version=OPSET,
            dynamo=False,
        )
    tmp.replace(path)


def _run_onnx(path: Path, input_name: str, values: np.ndarray) -> np.ndarray:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {input_name: values})[0]


def _describe(
    path: Path, input_name: str, output_name: str, inputs: torch.Tensor, reference: torch.Tensor, checked_on: str
) -> OnnxPart:
    produced = _run_onnx(path, input_name, inputs.numpy())
    error = float(np.abs(produced - reference.numpy()).max())
    if not np.isfinite(error) or error > AGREEMENT_TOLERANCE:
        raise ValueError(f"onnxruntime's output differs from torch's by {error:.3g} (tolerance {AGREEMENT_TOLERANCE})")
    data = path.read_bytes()
    return OnnxPart(
        file=path.name,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        input=input_name,
        output=output_name,
        input_shape=["n", *inputs.shape[1:]],
        output_shape=["n", *reference.shape[1:]],
        max_abs_error=error,
        checked_on=checked_on,
    )


def export_onnx(
    model_folder: Path, cache_dir: Path, digest: str | None = None, seed: int = 0, force: bool = False
) -> OnnxExport:
    """Export (or find in the cache) the decoder and encoder of the model in ``model_folder``;
    see the module docstring. The export loads its own CPU copy of the model, so a served model
    (on whatever device) is never touched."""
    digest = digest or model_digest(model_folder)
    folder = cache_folder(cache_dir, digest)
    manifest_path = folder / MANIFEST_FILE
    if manifest_path.exists() and not force:
        try:
            return OnnxExport.model_validate_json(manifest_path.read_text())
        except ValidationError:
            log.info("model %s: the cached export's manifest is unreadable; exporting again", model_folder.name)
    folder.mkdir(parents=True, exist_ok=True)
    loaded = load_model_folder(model_folder, torch.device("cpu"))
    model, net = loaded.model.eval(), loaded.config.model.net
    result = OnnxExport(
        digest=digest,
        opset=OPSET,
        latent_dim=loaded.config.model.latent_dim,
        image_shape=[net.channels, net.image_size, net.image_size],
    )
    latents, images, images_from = _check_inputs(loaded, seed)
    for name in PART_NAMES:
        capability = PART_CAPABILITY[name]
        if not getattr(model.capabilities, capability):
            result.unavailable[name] = f"the model has no {name} (capabilities.{capability} is false)"
            continue
        path = folder / f"{name}.onnx"
        module: torch.nn.Module
        try:
            if name == "decoder":
                module, inputs, io, checked_on = (
                    _Decoder(model),
                    latents,
                    ("latent", "image"),
                    f"{len(latents)} random latents",
                )
            else:
                module, inputs, io, checked_on = (
                    _Encoder(model),
                    images,
                    ("image", "latent"),
                    f"{len(images)} {images_from}",
                )
            # eval for good: the exporter restores the wrapper's mode afterwards, to the whole tree
            module.eval()
            with torch.inference_mode():
                reference = module(inputs)
            own = model.onnx_graph(name)
            if own is not None:  # the graph the model runs, in the browser's convention (checked like an export)
                from latentatlas.export.browser_graph import browser_graph  # onnx: imported when a graph is built

                data, input_name, output_name = browser_graph(own, name)
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_bytes(data)
                tmp.replace(path)
                io = (input_name, output_name)
            else:
                _export_graph(module, inputs[:2].clone(), path, *io)
            result.parts[name] = _describe(path, *io, inputs, reference, checked_on)
        except Exception as error:
            reason = f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
            log.warning("model %s: %s not exported to ONNX (%s)", model_folder.name, name, reason)
            result.unavailable[name] = reason
            path.unlink(missing_ok=True)
    write_json(manifest_path, json.loads(result.model_dump_json()))
    return result


class OnnxCache:
    """Per-process access to the export cache: one export at a time (exports are CPU-bound and
    rare; concurrent requests for a model wait for the first and then read its manifest), and
    each model's digest computed once (served weights do not change)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._exports: dict[Path, OnnxExport] = {}

    def get(self, model_folder: Path) -> OnnxExport:
        with self._lock:
            if model_folder not in self._exports:
                self._exports[model_folder] = export_onnx(model_folder, self.cache_dir)
            return self._exports[model_folder]

    def file(self, export: OnnxExport, part: str) -> Path:
        return cache_folder(self.cache_dir, export.digest) / export.parts[part].file
