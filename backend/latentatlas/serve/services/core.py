"""The core of a served model: describe it, encode, decode, traverse, generate and draw dataset
samples (batched, under ``torch.inference_mode``, one inference at a time per model). The
capability modules (ordered latents, population, exports, metrics jobs) work over this service."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TypeVar

import numpy as np
import torch

from latentatlas.data.base import FactorDataset, ImageDataset
from latentatlas.data.registry import load_dataset
from latentatlas.errors import InputError, UnsupportedError
from latentatlas.evaluation.novelty import judge_novelty
from latentatlas.evaluation.quality import psnr
from latentatlas.families.base import ExactLikelihood, PriorSampling, capable
from latentatlas.imaging import tile_grid, to_data_url, to_png
from latentatlas.serve.admission import Admission, FairLock
from latentatlas.serve.derived_cache import DerivedCache, model_fingerprint
from latentatlas.serve.schemas import (
    EncodeResponse,
    Generated,
    GenerateResponse,
    InputContext,
    ModelDetail,
    ModelInfo,
    Sample,
    TraverseResponse,
)
from latentatlas.serve.schemas.batch import BatchEncodeResponse, BatchItem
from latentatlas.serve.services.description import ModelDescription
from latentatlas.store.folders import LoadedModel

log = logging.getLogger("latentatlas.serve")
Part = TypeVar("Part")

# Decodes per turn of a model's lock: larger batches are split so that other requests interleave.
DECODE_CHUNK = 64

# A traversal sweeps a continuous dim over mean +- SWEEP_SD latent sds.
SWEEP_SD = 3.0


class ModelService:
    """One loaded model: describe, encode, decode, traverse, generate and dataset samples."""

    def __init__(
        self,
        loaded: LoadedModel,
        device: torch.device,
        model_id: str | None = None,
        admission: Admission | None = None,
        description: ModelDescription | None = None,
        cache: DerivedCache | None = None,
    ) -> None:
        self.id = model_id or loaded.folder.name
        self.admission = admission or Admission(per_model=1 << 30)
        # What the API says of the model (read from its folder by the registry, else from the model).
        self.description = description or ModelDescription.of_loaded(self.id, loaded)
        loaded.card = self.description.card
        self.loaded = loaded
        self.model = loaded.model
        self.config = loaded.config.model
        self.device = device
        self._dataset: ImageDataset | None = None
        self._dataset_error: str | None = None
        self._dataset_lock = threading.Lock()
        self.latent_mean, self.latent_std = self.description.latent_mean, self.description.latent_std
        self.capabilities = self.description.capabilities
        self.codebooks = self.description.codebooks
        self.truncation_fill = self.description.truncation_fill
        self.cache = cache  # where large derived results go (on disk), if anywhere
        self._fingerprint: str | None = None
        # One inference at a time per model, in arrival order: requests queue (boundedly:
        # ``admission``) instead of oversubscribing the cores.
        self._lock = FairLock()
        self._parts: dict[type, object] = {}
        self._parts_lock = threading.Lock()

    def inference(self):
        """Admission to this model's inference (OverloadedError beyond the bounds), then its lock."""
        return self.admission.slot(self.id, self._lock)

    def part(self, kind: type[Part]) -> Part:
        """The capability module ``kind`` over this model (``kind(self)``), made on first use and
        kept: one per model, so what it caches is measured once."""
        with self._parts_lock:
            if kind not in self._parts:
                self._parts[kind] = kind(self)  # type: ignore[call-arg]
            return self._parts[kind]  # type: ignore[return-value]

    @property
    def dataset(self) -> ImageDataset | None:
        """The model's dataset, loaded on first use (a user's image folder can be large, so
        start-up never reads it); None when it is not available on this machine."""
        with self._dataset_lock:
            if self._dataset is None and self._dataset_error is None:
                try:
                    self._dataset = load_dataset(self.loaded.config.dataset)
                except (OSError, ValueError) as error:  # e.g. a user's image folder not present here
                    self._dataset_error = str(error)
                    log.warning("model %s: dataset unavailable (%s); encode by upload still works", self.id, error)
            return self._dataset

    # -- description -------------------------------------------------------------------
    @property
    def ensemble(self) -> str | None:
        """The ensemble the model is a member of, if any."""
        return self.description.ensemble

    def fingerprint(self) -> str:
        """The SHA-256 of the model's config and tensors (computed once): what keys its cached results."""
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.loaded.config.model_dump(mode="json"), self.model)
        return self._fingerprint

    def memory_bytes(self) -> int:
        """The bytes of the model's parameters and buffers (what evicting it frees)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)

    def info(self) -> ModelInfo:
        return self.description.info(self._dataset)

    def detail(self, peers: Iterable[ModelDescription] = ()) -> ModelDetail:
        """The model with its card, and the held-out curves of ``peers`` comparable with its own."""
        return self.description.detail(peers, self._dataset)

    def require(self, capability: str, what: str) -> None:
        """UnsupportedError (409) unless the model declares ``capability`` (e.g. an imported
        encoder-only model has no ``decode``)."""
        if not getattr(self.capabilities, capability):
            lacks = {"decode": "it has no decoder", "encode": "it has no encoder"}.get(
                capability, f"it lacks {capability}"
            )
            raise UnsupportedError(
                f"model {self.id} ({self.config.kind}) cannot {what}: {lacks} (see `capabilities.{capability}` in /api/models)"
            )

    # -- tensor work -------------------------------------------------------------------
    def latents(self, latents: list[list[float]]) -> torch.Tensor:
        """Latents as a tensor on the model's device, each checked for the model's length (InputError)."""
        dim = self.config.latent_dim
        for latent in latents:
            if len(latent) != dim:
                raise InputError(f"latent has {len(latent)} values; model {self.id} expects {dim}")
        return torch.tensor(latents, dtype=torch.float32, device=self.device)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode in chunks of ``DECODE_CHUNK``, taking the model's lock per chunk: one large
        request (a 1,000-image traversal) interleaves with the others instead of stalling them."""
        self.require("decode", "decode a latent")
        parts = []
        for chunk in latents.split(DECODE_CHUNK):
            with self.inference():
                parts.append(self.model.decode(chunk).cpu())
        return torch.cat(parts)

    def decode_png(self, latent: list[float]) -> bytes:
        return to_png(self.decode(self.latents([latent]))[0])

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> EncodeResponse:
        """Encode a batch (N, C, S, S); returns the first image's latent, codes, scale and PNGs
        (no reconstruction, nor its PSNR, for a model without ``decode``)."""
        self.require("encode", "encode an image")
        images = images.to(self.device)
        with self.inference():
            encoding = self.model.encode(images)
            recon = self.model.decode(encoding.latent).cpu() if self.capabilities.decode else None
            likelihood = capable(self.model, ExactLikelihood) if self.capabilities.likelihood else None
            bits = float(likelihood.bits_per_dim(images[:1])[0]) if likelihood is not None else None
        context = self.input_context(None if recon is None else float(psnr(images[:1].cpu(), recon[:1])[0]), bits)
        return EncodeResponse(
            latent=encoding.latent[0].tolist(),
            codes=encoding.codes[0].tolist() if encoding.codes is not None else None,
            scale=encoding.scale[0].tolist() if encoding.scale is not None else None,
            input=to_data_url(to_png(images[0])),
            reconstruction=None if recon is None else to_data_url(to_png(recon[0])),
            **context.model_dump(),
        )

    @torch.inference_mode()
    def encode_batch(self, images: torch.Tensor, names: list[str]) -> BatchEncodeResponse:
        """Encode a batch of uploads (N, C, S, S) in one pass: each one's latent, reconstruction,
        PSNR and out-of-distribution verdict (:meth:`input_context`), named as uploaded."""
        self.require("encode", "encode images")
        images = images.to(self.device)
        with self.inference():
            latents = self.model.encode(images).latent
            recon = self.model.decode(latents).cpu() if self.capabilities.decode else None
            likelihood = capable(self.model, ExactLikelihood) if self.capabilities.likelihood else None
            bits = likelihood.bits_per_dim(images).tolist() if likelihood is not None else [None] * len(images)
        scores = psnr(images.cpu(), recon).tolist() if recon is not None else [None] * len(images)
        items = [
            BatchItem(
                name=name,
                latent=latents[i].tolist(),
                input=to_data_url(to_png(images[i])),
                reconstruction=None if recon is None else to_data_url(to_png(recon[i])),
                **self.input_context(scores[i], bits[i]).model_dump(),
            )
            for i, name in enumerate(names)
        ]
        return BatchEncodeResponse(items=items)

    def input_context(self, psnr_db: float | None, bits: float | None) -> InputContext:
        """How an input compares with the model's held-out data (its card): PSNR and, with a
        likelihood, bits/dim, and the far-from-training verdict (:mod:`~latentatlas.evaluation.novelty`)."""
        card = self.loaded.card
        heldout = card.get("heldout", {}).get("psnr_db")
        heldout_bits = (card.get("flow") or {}).get("bits_per_dim")
        novelty = judge_novelty(psnr_db, heldout, bits, heldout_bits)
        described = card.get("dataset") or {}
        data = f"{described.get('name', self.loaded.config.dataset.name)}"
        if described.get("size"):
            data += f" ({described['size']:,} images)"
        if psnr_db is None:
            line = f"{self.id} was trained on {data}; it has no decoder, so there is no reconstruction to compare"
        else:
            line = f"{self.id} was trained on {data}; this input reconstructs at {psnr_db:.1f} dB"
        if heldout is not None and psnr_db is not None:
            line += f" against {heldout:.1f} dB on held-out images"
        if bits is not None and heldout_bits is not None:
            line += f", at {bits:.2f} bits/dim against {heldout_bits:.2f}"
        line += novelty.verdict()
        return InputContext(
            psnr_db=psnr_db,
            heldout_psnr_db=heldout,
            bits_per_dim=bits,
            heldout_bits_per_dim=heldout_bits,
            far_from_training=novelty.far,
            context=line,
        )

    def generate(self, n: int, seed: int) -> GenerateResponse:
        """``n`` latents drawn from the model's prior (seeded) and their decodes."""
        if not self.capabilities.sample:
            raise UnsupportedError(
                f"model {self.id} ({self.config.kind}) has no prior to sample from (see `capabilities.sample` in /api/models)"
            )
        with torch.inference_mode(), self.inference():
            latents = capable(self.model, PriorSampling).sample_prior(n, torch.Generator().manual_seed(seed))
            images = self.model.decode(latents).cpu()
        samples = [Generated(latent=latents[i].tolist(), image=to_data_url(to_png(images[i]))) for i in range(n)]
        return GenerateResponse(samples=samples, seed=seed)

    def dataset_images(self, indices: list[int]) -> torch.Tensor:
        if self.dataset is None:
            raise InputError(
                f"model {self.id}'s dataset ({self.loaded.config.dataset.name}) is not available on this server"
            )
        bad = [i for i in indices if not 0 <= i < len(self.dataset)]
        if bad:
            raise InputError(
                f"dataset_index {bad[0]} is out of range: {self.dataset.name} has {len(self.dataset)} images (0..{len(self.dataset) - 1})"
            )
        return self.dataset.images(np.asarray(indices, dtype=np.int64))

    def samples(self, n: int, seed: int) -> list[Sample]:
        if not isinstance(self.dataset, FactorDataset):
            raise InputError(f"model {self.id}'s dataset has no generative factors to sample")
        dataset = self.dataset
        factors = dataset.sample_factors(n, np.random.default_rng(seed))
        images = dataset.render(factors)
        values = dataset.factor_value_table(factors)
        indices = dataset.factors_to_index(factors)
        return [
            Sample(
                index=int(indices[i]),
                factors={name: values[name][i] for name in dataset.factor_names},
                factor_indices=factors[i].tolist(),
                image=to_data_url(to_png(images[i])),
            )
            for i in range(n)
        ]

    # -- traversals ----------------------------------------------------------------------
    def sweep(self, dim: int) -> dict:
        """What a traversal of ``dim`` sweeps: ``{"values": its sorted codebook}`` (discrete codes),
        else ``{"low": mean - SWEEP_SD sd, "high": mean + SWEEP_SD sd}`` (``steps`` evenly spaced values)."""
        if self.codebooks is not None:
            return {"values": sorted(self.codebooks[dim])}
        mean, std = float(self.latent_mean[dim]), max(float(self.latent_std[dim]), 1e-6)
        return {"low": mean - SWEEP_SD * std, "high": mean + SWEEP_SD * std}

    def traversal_values(self, dim: int, steps: int) -> list[float]:
        """A dimension's sweep (:meth:`sweep`) as the values decoded."""
        sweep = self.sweep(dim)
        return sweep["values"] if "values" in sweep else np.linspace(sweep["low"], sweep["high"], steps).tolist()

    def prior_centre(self) -> list[float]:
        """The latent mean (the card's statistics), each quantised dim at its nearest code."""
        if self.codebooks is None:
            return self.latent_mean.tolist()
        return [
            min(codes, key=lambda code: abs(code - mean))
            for codes, mean in zip(self.codebooks, self.latent_mean.tolist())
        ]

    def traversal_plan(self, latent: list[float], dims: list[int] | None, steps: int, max_batch: int):
        """(base latent, dims, values per dim): what a traversal decodes, checked (InputError)."""
        base = self.latents([latent])[0]
        dim = self.config.latent_dim
        if dims is None:
            # the description's default rows, as many as the decode limit allows (at least one)
            columns = len(self.traversal_values(0, steps))
            dims = self.description.traverse_dims[: max(1, max_batch // columns)]
        if not dims:
            raise InputError("dims is empty: give at least one latent dimension")
        bad = [d for d in dims if not 0 <= d < dim]
        if bad:
            raise InputError(f"dimension {bad[0]} does not exist: model {self.id} has dimensions 0..{dim - 1}")
        values = [self.traversal_values(d, steps) for d in dims]
        columns = len(values[0])
        if len(dims) * columns > max_batch:
            raise InputError(
                f"{len(dims)} dims x {columns} steps = {len(dims) * columns} decodes; the limit is {max_batch}"
            )
        return base, dims, values

    def decode_traversal(self, base: torch.Tensor, dims: list[int], values: list[list[float]]) -> torch.Tensor:
        """Row r (dim ``dims[r]``) takes each of ``values[r]`` with the rest of ``base``: one batched
        decode, (rows * columns, C, H, W) row-major."""
        columns = len(values[0])
        batch = base.repeat(len(dims) * columns, 1)
        for row, (d, sweep) in enumerate(zip(dims, values)):
            batch[row * columns : (row + 1) * columns, d] = torch.tensor(sweep, dtype=batch.dtype, device=batch.device)
        return self.decode(batch)

    def traverse(self, latent: list[float], dims: list[int] | None, steps: int, max_batch: int) -> TraverseResponse:
        """Sweep each of ``dims`` from ``latent`` in one batched decode; a grid with rows = dims."""
        base, dims, values = self.traversal_plan(latent, dims, steps, max_batch)
        columns = len(values[0])
        grid = tile_grid(self.decode_traversal(base, dims, values), len(dims), columns)
        return TraverseResponse(
            image=to_data_url(to_png(grid)), dims=dims, values=values, steps=columns, tile=self.config.net.image_size
        )
