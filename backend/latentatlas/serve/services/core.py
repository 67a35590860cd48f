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

from latentatlas.data import FactorDataset, ImageDataset, load_dataset
from latentatlas.errors import InputError, UnsupportedError
from latentatlas.evaluation.dim_names import (
    COLLAPSED_POSTERIOR_SD,
    DIM_NAME_MIN_NMI,
    collapsed_dims,
)
from latentatlas.evaluation.novelty import judge_novelty
from latentatlas.evaluation.ordered_latents import CURVE_POINTS, log_keep_grid, slider_keep_grid
from latentatlas.evaluation.quality import psnr
from latentatlas.families import get_family
from latentatlas.imaging import tile_grid, to_data_url, to_png
from latentatlas.serve.admission import Admission, FairLock
from latentatlas.serve.schemas import (
    DimName,
    EncodeResponse,
    Generated,
    GenerateResponse,
    HeldOutCurves,
    InputContext,
    ModelDetail,
    ModelInfo,
    ModelMetrics,
    Sample,
    TraverseResponse,
)
from latentatlas.serve.services.card import CardFacts, sanitize_card
from latentatlas.store.folders import LoadedModel

log = logging.getLogger("latentatlas.serve")
Part = TypeVar("Part")

# Decodes per turn of a model's lock: larger batches are split so that other requests interleave.
DECODE_CHUNK = 64

# Traversals without ``dims`` sweep this many leading dimensions at most (every dimension of a
# small latent; the most important ones of an ordered flow, whose latent is the image's size).
DEFAULT_TRAVERSE_DIMS = 16

# A traversal sweeps a continuous dim over mean +- SWEEP_SD latent sds.
SWEEP_SD = 3.0


class ModelService:
    """One loaded model: describe, encode, decode, traverse, generate and dataset samples."""

    def __init__(self, loaded: LoadedModel, device: torch.device, model_id: str | None = None, admission: Admission | None = None) -> None:
        self.id = model_id or loaded.folder.name
        self.admission = admission or Admission(per_model=1 << 30)
        loaded.card = sanitize_card(self.id, loaded.card, loaded.config.model.latent_dim)
        self.loaded = loaded
        self.model = loaded.model
        self.config = loaded.config.model
        self.device = device
        self.ensemble: str | None = None  # set when served as an ensemble member
        self._dataset: ImageDataset | None = None
        self._dataset_error: str | None = None
        self._dataset_lock = threading.Lock()
        stats = loaded.card.get("latent_stats", {})
        dim = self.config.latent_dim
        self.latent_mean = np.asarray(stats.get("mean", [0.0] * dim), dtype=np.float64)
        self.latent_std = np.asarray(stats.get("std", [1.0] * dim), dtype=np.float64)
        self.latent_min = stats.get("min", list(self.latent_mean - 3 * self.latent_std))
        self.latent_max = stats.get("max", list(self.latent_mean + 3 * self.latent_std))
        self.posterior_scale = stats.get("posterior_scale")
        self.capabilities = self.model.capabilities
        # The served model is frozen: read its codebooks and truncation rule once.
        self.codebooks: list[list[float]] | None = self.model.codebooks().cpu().tolist() if self.capabilities.codes else None
        self.truncation_fill: float | None = float(self.model.truncation_fill) if self.capabilities.ordered else None
        # One inference at a time per model, in arrival order: requests queue (boundedly:
        # ``admission``) instead of oversubscribing the cores.
        self._lock = FairLock()
        self._facts: CardFacts | None = None
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
    def card_facts(self) -> CardFacts:
        """The metrics and dim names of the current card, derived once per card."""
        facts = self._facts
        if facts is None or facts.card is not self.loaded.card:
            self._facts = facts = CardFacts.of(self.id, self.loaded.card, self.posterior_scale)
        return facts

    def metrics(self) -> ModelMetrics | None:
        """The card's metrics; None when not computed yet, or unreadable (logged)."""
        return self.card_facts().metrics

    def dim_names(self) -> list[DimName | None] | None:
        """Per dim (of those the metrics cover), its factor where the server names it (:mod:`~latentatlas.evaluation.dim_names`)."""
        return self.card_facts().dim_names

    def info(self) -> ModelInfo:
        net, card = self.config.net, self.loaded.card
        # What training recorded of the data (card["dataset"]), else the dataset itself.
        described = card.get("dataset") or (self.dataset.describe() if self.dataset is not None else {})
        facts = self.card_facts()
        return ModelInfo(
            id=self.id,
            kind=self.config.kind,
            dataset=self.loaded.config.dataset.name,
            dataset_size=described.get("size"),
            image_size=net.image_size,
            channels=net.channels,
            latent_dim=self.config.latent_dim,
            factor_names=described.get("factor_names", []),
            factor_sizes=described.get("factor_sizes", []),
            codebooks=self.codebooks,
            latent_mean=self.latent_mean.tolist(),
            latent_std=self.latent_std.tolist(),
            latent_min=list(self.latent_min),
            latent_max=list(self.latent_max),
            posterior_scale=self.posterior_scale,
            dim_names=facts.dim_names,
            dim_name_threshold=DIM_NAME_MIN_NMI,
            dim_inactive=collapsed_dims(self.posterior_scale) if self.posterior_scale else None,
            collapsed_posterior_sd=COLLAPSED_POSTERIOR_SD,
            heldout=card.get("heldout", {}),
            steps=card.get("steps"),
            metrics=facts.metrics,
            family=get_family(self.config.kind).summary,
            capabilities=self.capabilities,
            ensemble=self.ensemble,
            truncation_fill=self.truncation_fill,
            **self._keep_grids(card),
        )

    def _keep_grids(self, card: dict) -> dict[str, list[int] | None]:
        """An ordered model's slider and curve C values (:mod:`~latentatlas.evaluation.ordered_latents`)."""
        if not self.capabilities.ordered:
            return {"keep_grid": None, "curve_keep_grid": None}
        dim = self.config.latent_dim
        card_keeps = ((card.get("flow") or {}).get("truncation") or {}).get("keep") or []
        return {"keep_grid": slider_keep_grid(dim, card_keeps), "curve_keep_grid": log_keep_grid(dim, CURVE_POINTS)}

    def detail(self, peers: Iterable[ModelService] = ()) -> ModelDetail:
        """The model with its card, and the held-out curves of ``peers`` comparable with its own."""
        card = self.loaded.card
        summary = {k: v for k, v in card.items() if k not in ("curves", "latent_stats", "metrics")}
        curves = [curves for peer in peers if (curves := self.held_out_peer(peer)) is not None]
        return ModelDetail(**self.info().model_dump(), curves=card.get("curves", {}), card=summary, peers=curves)

    def held_out_peer(self, other: ModelService) -> HeldOutCurves | None:
        """``other``'s card flow curves when both models have ordered latents, were trained on the
        same data and were evaluated on the same held-out images; else None."""
        mine, theirs = self.loaded.card.get("flow") or {}, other.loaded.card.get("flow") or {}
        comparable = (
            other is not self
            and self.capabilities.ordered
            and other.capabilities.ordered
            and self.loaded.config.dataset == other.loaded.config.dataset
            and mine.get("images") == theirs.get("images")
            and theirs.get("truncation", {}).get("psnr")
        )
        if not comparable:
            return None
        here, there = self.config.model_dump(), other.config.model_dump()
        differs = [f"{key} {there[key]} (here {here[key]})" for key in there if key in here and there[key] != here[key] and key != "net"]
        if there["net"] != here["net"]:
            differs.append("network")
        return HeldOutCurves(
            id=other.id,
            differs=", ".join(differs) or "same config",
            bits_per_dim=theirs.get("bits_per_dim"),
            truncation=theirs["truncation"],
            denoise=theirs.get("denoise", {}),
        )

    def require(self, capability: str, what: str) -> None:
        """UnsupportedError (409) unless the model declares ``capability`` (e.g. an imported
        encoder-only model has no ``decode``)."""
        if not getattr(self.capabilities, capability):
            raise UnsupportedError(
                f"model {self.id} ({self.config.kind}) cannot {what}: it has no {capability} "
                f"(see `capabilities.{capability}` in /api/models)"
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
        """Encode a batch (N, C, S, S); returns the first image's latent, codes, scale and PNGs."""
        self.require("encode", "encode an image")
        self.require("decode", "show an encoded image's reconstruction")
        images = images.to(self.device)
        with self.inference():
            encoding = self.model.encode(images)
            recon = self.model.decode(encoding.latent).cpu()
            bits = float(self.model.bits_per_dim(images[:1])[0]) if self.capabilities.likelihood else None
        context = self.input_context(float(psnr(images[:1].cpu(), recon[:1])[0]), bits)
        return EncodeResponse(
            latent=encoding.latent[0].tolist(),
            codes=encoding.codes[0].tolist() if encoding.codes is not None else None,
            scale=encoding.scale[0].tolist() if encoding.scale is not None else None,
            input=to_data_url(to_png(images[0])),
            reconstruction=to_data_url(to_png(recon[0])),
            **context.model_dump(),
        )

    def input_context(self, psnr_db: float, bits: float | None) -> InputContext:
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
        line = f"{self.id} was trained on {data}; this input reconstructs at {psnr_db:.1f} dB"
        if heldout is not None:
            line += f" against {heldout:.1f} dB on held-out images"
        if bits is not None and heldout_bits is not None:
            line += f", at {bits:.2f} bits/dim against {heldout_bits:.2f}"
        line += novelty.verdict()
        return InputContext(
            psnr_db=psnr_db, heldout_psnr_db=heldout, bits_per_dim=bits, heldout_bits_per_dim=heldout_bits,
            far_from_training=novelty.far, context=line,
        )

    def generate(self, n: int, seed: int) -> GenerateResponse:
        """``n`` latents drawn from the model's prior (seeded) and their decodes."""
        if not self.capabilities.sample:
            raise UnsupportedError(
                f"model {self.id} ({self.config.kind}) has no prior to sample from (see `capabilities.sample` in /api/models)"
            )
        with torch.inference_mode(), self.inference():
            latents = self.model.sample_prior(n, torch.Generator().manual_seed(seed))
            images = self.model.decode(latents).cpu()
        samples = [Generated(latent=latents[i].tolist(), image=to_data_url(to_png(images[i]))) for i in range(n)]
        return GenerateResponse(samples=samples, seed=seed)

    def dataset_images(self, indices: list[int]) -> torch.Tensor:
        if self.dataset is None:
            raise InputError(f"model {self.id}'s dataset ({self.loaded.config.dataset.name}) is not available on this server")
        bad = [i for i in indices if not 0 <= i < len(self.dataset)]
        if bad:
            raise InputError(f"dataset_index {bad[0]} is out of range: {self.dataset.name} has {len(self.dataset)} images (0..{len(self.dataset) - 1})")
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
        return [min(codes, key=lambda code: abs(code - mean)) for codes, mean in zip(self.codebooks, self.latent_mean.tolist())]

    def traversal_plan(self, latent: list[float], dims: list[int] | None, steps: int, max_batch: int):
        """(base latent, dims, values per dim): what a traversal decodes, checked (InputError)."""
        base = self.latents([latent])[0]
        dim = self.config.latent_dim
        if dims is None:
            # the leading dims, as many rows as the decode limit allows (at least one)
            columns = len(self.traversal_values(0, steps))
            dims = list(range(max(1, min(dim, DEFAULT_TRAVERSE_DIMS, max_batch // columns))))
        if not dims:
            raise InputError("dims is empty: give at least one latent dimension")
        bad = [d for d in dims if not 0 <= d < dim]
        if bad:
            raise InputError(f"dimension {bad[0]} does not exist: model {self.id} has dimensions 0..{dim - 1}")
        values = [self.traversal_values(d, steps) for d in dims]
        columns = len(values[0])
        if len(dims) * columns > max_batch:
            raise InputError(f"{len(dims)} dims x {columns} steps = {len(dims) * columns} decodes; the limit is {max_batch}")
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
        return TraverseResponse(image=to_data_url(to_png(grid)), dims=dims, values=values, steps=columns, tile=self.config.net.image_size)
