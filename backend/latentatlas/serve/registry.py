"""The models the server holds: loaded once at start-up, each behind a ``ModelService``
that does the tensor work (batched, under ``torch.inference_mode``)."""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import TypeAdapter, ValidationError

from latentatlas.data import FactorDataset, ImageDataset, load_dataset
from latentatlas.imaging import labelled_sheet, sheet_png, tile_grid, to_data_url, to_png, traversal_gif
from latentatlas.serve.admission import Admission, FairLock
from latentatlas.serve.schemas import DimName, HeldOutCurves, MetricTables, ModelDetail, ModelInfo, ModelMetrics, Sample
from latentatlas.evaluation.disentanglement import Progress, VoteCounts, evaluate_model, save_metrics_run
from latentatlas.evaluation.population import code_entropy_per_dim, gaussian_kl_per_dim, principal_plane
from latentatlas.evaluation.quality import add_noise, psnr
from latentatlas.families import get_family
from latentatlas.store.folders import LoadedModel, load_model_folder

log = logging.getLogger("latentatlas.serve")


class InputError(ValueError):
    """A request the model cannot serve (422), with a message for the user."""


class UnsupportedError(InputError):
    """An operation this kind of model does not have (409), e.g. truncating a QLAE's latent."""


# A dim is named after a factor only with at least this NMI with it (InfoMEC), and never when
# collapsed (mean posterior sd at least COLLAPSED_POSTERIOR_SD, the app's "inactive" badge).
DIM_NAME_MIN_NMI = 0.2
COLLAPSED_POSTERIOR_SD = 0.8

# An input is "far from training" when it reconstructs this much worse than the held-out images,
# or (with a likelihood) is this many bits per dimension less likely.
FAR_PSNR_DB = 6.0
FAR_BITS_PER_DIM = 1.0

# Decodes per turn of a model's lock: larger batches are split so that other requests interleave.
DECODE_CHUNK = 64

# A population view returns this many leading latent dims at most (an ordered flow's top ones),
# renders and encodes its samples this many at a time, and keeps this many populations per model.
POPULATION_DIMS = 16
POPULATION_CHUNK = 256
POPULATION_CACHE = 4

# Traversals without ``dims`` sweep this many leading dimensions at most (every dimension of a
# small latent; the most important ones of an ordered flow, whose latent is the image's size).
DEFAULT_TRAVERSE_DIMS = 16

# A traversal sweeps a continuous dim over mean +- SWEEP_SD latent sds.
SWEEP_SD = 3.0

# Exported traversals: small tiles are upscaled to at least EXPORT_MIN_TILE pixels (by default),
# and no export is larger than EXPORT_MAX_PIXELS tile pixels (about 48 MB as RGB).
EXPORT_MIN_TILE = 64
EXPORT_MAX_PIXELS = 16_000_000

# Metric matrices the card stores dims x factors (the others are factors x dims).
DIMS_BY_FACTORS = frozenset({"dci_importance", "mig_mutual_info"})


_FLOATS = list[float]
CARD_FIELDS: dict[str, TypeAdapter] = {
    "heldout": TypeAdapter(dict[str, float | int]),
    "steps": TypeAdapter(int | None),
    "curves": TypeAdapter(dict[str, list[float | None]]),
    "dataset": TypeAdapter(dict[str, str | int | float | bool | list[str] | list[int] | None]),
    "latent_stats": TypeAdapter(dict[str, _FLOATS]),
}
"""The card fields the server reads, with the types it needs."""


def sanitize_card(model_id: str, card: object, latent_dim: int) -> dict:
    """The card with every field the server reads checked against its type: a field of the
    wrong type (a hand-edited or damaged card) is dropped and logged, so the model is served
    without it instead of breaking the model list for everyone."""
    if not isinstance(card, dict):
        log.warning("model %s: card.json is not a JSON object; serving without a card", model_id)
        return {}
    clean = dict(card)
    for name, adapter in CARD_FIELDS.items():
        if name in clean:
            try:
                adapter.validate_python(clean[name], strict=False)
            except ValidationError as error:
                log.warning("model %s: ignoring the card's %r (%s)", model_id, name, error.errors()[0].get("msg", "invalid"))
                del clean[name]
    stats = clean.get("latent_stats", {})
    if any(len(values) != latent_dim for values in stats.values()):
        log.warning("model %s: ignoring the card's latent_stats (not %d values per statistic)", model_id, latent_dim)
        del clean["latent_stats"]
    return clean


class ModelService:
    """One loaded model: encode, decode, traverse and dataset samples."""

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
        # The served model is frozen: read its codebooks once.
        self.codebooks: list[list[float]] | None = self.model.codebooks().cpu().tolist() if self.capabilities.codes else None
        # One inference at a time per model, in arrival order: requests queue (boundedly:
        # ``admission``) instead of oversubscribing the cores.
        self._lock = FairLock()
        self._populations: OrderedDict[tuple[int, int], dict] = OrderedDict()
        self._measure_lock = threading.Lock()  # one population or dim-information measurement at a time
        self._information: dict | None = None  # dim_information(), measured once

    def _inference(self):
        """Admission to this model's inference (OverloadedError beyond the bounds), then its lock."""
        return self.admission.slot(self.id, self._lock)

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
    def info(self) -> ModelInfo:
        net, card = self.config.net, self.loaded.card
        dataset = self.loaded.config.dataset
        # What training recorded of the data (card["dataset"]), else the dataset itself.
        described = card.get("dataset") or (self.dataset.describe() if self.dataset is not None else {})
        metrics = self.metrics()
        return ModelInfo(
            id=self.id,
            kind=self.config.kind,
            dataset=dataset.name,
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
            dim_names=self.dim_names(metrics),
            dim_name_threshold=DIM_NAME_MIN_NMI,
            dim_inactive=[float(sd) >= COLLAPSED_POSTERIOR_SD for sd in self.posterior_scale] if self.posterior_scale else None,
            collapsed_posterior_sd=COLLAPSED_POSTERIOR_SD,
            heldout=card.get("heldout", {}),
            steps=card.get("steps"),
            metrics=metrics,
            family=get_family(self.config.kind).summary,
            capabilities=self.capabilities,
            ensemble=self.ensemble,
        )

    def metrics(self) -> ModelMetrics | None:
        """The card's metrics; None when not computed yet, or unreadable (logged)."""
        metrics = self.loaded.card.get("metrics")
        if metrics is None:
            return None
        try:
            return ModelMetrics.model_validate(metrics)
        except ValidationError as error:
            log.warning("model %s: ignoring the card's metrics (%s)", self.id, error)
            return None

    def dim_names(self, metrics: ModelMetrics | None) -> list[DimName | None] | None:
        """Each latent dim's best factor by InfoMEC's NMI (the card's metrics), when the NMI is at
        least DIM_NAME_MIN_NMI and the dim is active (InfoMEC's activity, and for a posterior a
        mean posterior sd below COLLAPSED_POSTERIOR_SD); None for the others."""
        if metrics is None:
            return None
        nmi = np.asarray(metrics.matrices.get("infomec_nmi", []), dtype=np.float64)
        if nmi.ndim != 2 or not nmi.size:
            return None
        active = list(metrics.matrices.get("infomec_active", [True] * nmi.shape[1]))
        scale = self.posterior_scale or [0.0] * nmi.shape[1]
        names: list[DimName | None] = []
        for d in range(nmi.shape[1]):
            best = int(np.argmax(nmi[:, d]))
            value = float(nmi[best, d])
            named = value >= DIM_NAME_MIN_NMI and bool(active[d]) and float(scale[d]) < COLLAPSED_POSTERIOR_SD
            names.append(DimName(factor=metrics.factor_names[best], nmi=round(value, 4)) if named else None)
        return names

    def detail(self, peers: list[ModelService] = ()) -> ModelDetail:
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

    # -- tensor work -------------------------------------------------------------------
    def _latents(self, latents: list[list[float]]) -> torch.Tensor:
        dim = self.config.latent_dim
        for latent in latents:
            if len(latent) != dim:
                raise InputError(f"latent has {len(latent)} values; model {self.id} expects {dim}")
        return torch.tensor(latents, dtype=torch.float32, device=self.device)

    @torch.inference_mode()
    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode in chunks of ``DECODE_CHUNK``, taking the model's lock per chunk: one large
        request (a 1,000-image traversal) interleaves with the others instead of stalling them."""
        parts = []
        for chunk in latents.split(DECODE_CHUNK):
            with self._inference():
                parts.append(self.model.decode(chunk).cpu())
        return torch.cat(parts)

    def decode_png(self, latent: list[float]) -> bytes:
        return to_png(self._decode(self._latents([latent]))[0])

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> dict:
        """Encode a batch (N, C, S, S); returns the first image's latent, codes, scale and PNGs."""
        images = images.to(self.device)
        with self._inference():
            encoding = self.model.encode(images)
            recon = self.model.decode(encoding.latent).cpu()
            bits = float(self.model.bits_per_dim(images[:1])[0]) if self.capabilities.likelihood else None
        return {
            "latent": encoding.latent[0].tolist(),
            "codes": encoding.codes[0].tolist() if encoding.codes is not None else None,
            "scale": encoding.scale[0].tolist() if encoding.scale is not None else None,
            "input": to_data_url(to_png(images[0])),
            "reconstruction": to_data_url(to_png(recon[0])),
            **self.input_context(float(psnr(images[:1].cpu(), recon[:1])[0]), bits),
        }

    def input_context(self, psnr_db: float, bits: float | None) -> dict:
        """How an input compares with the model's held-out data (its card): PSNR and, with a
        likelihood, bits/dim; far from training when it reconstructs FAR_PSNR_DB worse, or is
        FAR_BITS_PER_DIM less likely per dimension."""
        card = self.loaded.card
        heldout = card.get("heldout", {}).get("psnr_db")
        heldout_bits = (card.get("flow") or {}).get("bits_per_dim")
        far = (heldout is not None and psnr_db < heldout - FAR_PSNR_DB) or (
            bits is not None and heldout_bits is not None and bits > heldout_bits + FAR_BITS_PER_DIM
        )
        described = card.get("dataset") or {}
        data = f"{described.get('name', self.loaded.config.dataset.name)}"
        if described.get("size"):
            data += f" ({described['size']:,} images)"
        line = f"{self.id} was trained on {data}; this input reconstructs at {psnr_db:.1f} dB"
        if heldout is not None:
            line += f" against {heldout:.1f} dB on held-out images"
        if bits is not None and heldout_bits is not None:
            line += f", at {bits:.2f} bits/dim against {heldout_bits:.2f}"
        line += ": it is far from what the model was trained on, so expect a poor reconstruction." if far else "."
        return {"psnr_db": psnr_db, "heldout_psnr_db": heldout, "bits_per_dim": bits, "heldout_bits_per_dim": heldout_bits,
                "far_from_training": bool(far), "context": line}

    def generate(self, n: int, seed: int) -> dict:
        """``n`` latents drawn from the model's prior (seeded) and their decodes."""
        if not self.capabilities.sample:
            raise UnsupportedError(
                f"model {self.id} ({self.config.kind}) has no prior to sample from (see `capabilities.sample` in /api/models)"
            )
        with torch.inference_mode(), self._inference():
            latents = self.model.sample_prior(n, torch.Generator().manual_seed(seed))
            images = self.model.decode(latents).cpu()
        return {
            "samples": [{"latent": latents[i].tolist(), "image": to_data_url(to_png(images[i]))} for i in range(n)],
            "seed": seed,
        }

    def dataset_images(self, indices: list[int]) -> torch.Tensor:
        if self.dataset is None:
            raise InputError(f"model {self.id}'s dataset ({self.loaded.config.dataset.name}) is not available on this server")
        bad = [i for i in indices if not 0 <= i < len(self.dataset)]
        if bad:
            raise InputError(f"dataset_index {bad[0]} is out of range: {self.dataset.name} has {len(self.dataset)} images (0..{len(self.dataset) - 1})")
        return self.dataset.images(np.asarray(indices, dtype=np.int64))

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

    def _traversal_plan(self, latent: list[float], dims: list[int] | None, steps: int, max_batch: int):
        """(base latent, dims, values per dim): what a traversal decodes, checked (InputError)."""
        base = self._latents([latent])[0]
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

    def _decode_traversal(self, base: torch.Tensor, dims: list[int], values: list[list[float]]) -> torch.Tensor:
        """Row r (dim ``dims[r]``) takes each of ``values[r]`` with the rest of ``base``: one batched
        decode, (rows * columns, C, H, W) row-major."""
        columns = len(values[0])
        batch = base.repeat(len(dims) * columns, 1)
        for row, (d, sweep) in enumerate(zip(dims, values)):
            batch[row * columns : (row + 1) * columns, d] = torch.tensor(sweep, dtype=batch.dtype, device=batch.device)
        return self._decode(batch)

    def traverse(self, latent: list[float], dims: list[int] | None, steps: int, max_batch: int) -> dict:
        base, dims, values = self._traversal_plan(latent, dims, steps, max_batch)
        columns = len(values[0])
        grid = tile_grid(self._decode_traversal(base, dims, values), len(dims), columns)
        return {"image": to_data_url(to_png(grid)), "dims": dims, "values": values, "steps": columns, "tile": self.config.net.image_size}

    def dim_labels(self, dims: list[int]) -> list[str]:
        """Row labels: ``z3 · posX (NMI 0.62)`` where the server names the dim (:meth:`dim_names`), else ``z3``."""
        names = self.dim_names(self.metrics()) or []
        return [f"z{d} · {name.factor} (NMI {name.nmi:.2f})" if d < len(names) and (name := names[d]) else f"z{d}" for d in dims]

    def traverse_export(
        self, latent: list[float], dims: list[int] | None, steps: int, max_batch: int, fmt: str, scale: int | None
    ) -> bytes:
        """The traversal as a labelled PNG sheet (rows = dims, columns = steps) or an animated GIF
        (frame k = every dim at its k-th step; :func:`latentatlas.imaging.traversal_gif`). Columns
        are labelled k of mean + k sd (continuous latents) or the code's rank (codebooks); tiles
        are upscaled ``scale`` times (default: to at least EXPORT_MIN_TILE pixels)."""
        base, dims, values = self._traversal_plan(latent, dims, steps, max_batch)
        tile, columns = self.config.net.image_size, len(values[0])
        scale = scale or -(-EXPORT_MIN_TILE // tile)
        pixels = len(dims) * columns * (tile * scale) ** 2
        if pixels > EXPORT_MAX_PIXELS:
            raise InputError(
                f"{len(dims)} x {columns} tiles of {tile * scale} pixels = {pixels:,} pixels; the limit is "
                f"{EXPORT_MAX_PIXELS:,}: ask for a smaller scale, fewer dims or fewer steps"
            )
        if self.codebooks is not None:
            corner, steps_labels = "code (sorted)", [str(c + 1) for c in range(columns)]
        else:
            offsets = np.linspace(-SWEEP_SD, SWEEP_SD, columns)
            corner, steps_labels = "mean + k sd", ["0" if round(k, 1) == 0 else f"{k:+.1f}" for k in offsets]
        images = self._decode_traversal(base, dims, values)
        labels = self.dim_labels(dims)
        if fmt == "gif":
            return traversal_gif(images, len(dims), labels, steps_labels, corner, scale)
        return sheet_png(labelled_sheet(images, len(dims), labels, steps_labels, corner, scale))

    def metric_tables(self) -> MetricTables:
        """The card's metric matrices, each factors x dims (dci_importance and mig_mutual_info,
        stored dims x factors, transposed), with the factor names and dim names; UnsupportedError
        (409) when the card has no metrics."""
        metrics = self.metrics()
        if metrics is None:
            raise UnsupportedError(
                f"model {self.id} has no metrics yet: compute them in the app's metrics panel "
                f"(POST /api/models/{self.id}/metrics) or with `latentatlas evaluate`"
            )
        factors, dims = len(metrics.factor_names), metrics.latent_dim
        matrices: dict[str, list[list[float]]] = {}
        for name, matrix in metrics.matrices.items():
            array = np.asarray(matrix)
            if array.ndim != 2:
                continue  # infomec_active: a vector, served as ``active``
            if name in DIMS_BY_FACTORS:
                array = array.T
            if array.shape != (factors, dims):
                log.warning("model %s: the card's %s is %s, not %d x %d; left out of the export", self.id, name, array.shape, factors, dims)
                continue
            matrices[name] = array.tolist()
        active = metrics.matrices.get("infomec_active")
        return MetricTables(
            model_id=self.id,
            factor_names=metrics.factor_names,
            dims=[f"z{d}" for d in range(dims)],
            dim_names=(self.dim_names(metrics) or [None] * dims)[:dims],
            active=[bool(a) for a in active] if active is not None and len(active) == dims else None,
            latents_scored=metrics.latents_scored,
            matrices=matrices,
            values=metrics.values,
        )

    # -- ordered latents (models with ``truncate``: EOFlow) ----------------------------------
    def require_truncate(self, what: str) -> None:
        """UnsupportedError (409) unless the model has top-C decoding."""
        if not self.capabilities.ordered:
            raise UnsupportedError(
                f"model {self.id} ({self.config.kind}) cannot {what}: its latents are not ordered by importance and it "
                "has no top-C decoding (see `capabilities.ordered` in /api/models)"
            )

    def _check_keep(self, keep: list[int]) -> None:
        dim = self.config.latent_dim
        if not keep:
            raise InputError("keep is empty: give at least one number of latents to keep")
        bad = [c for c in keep if not 1 <= c <= dim]
        if bad:
            raise InputError(f"keep {bad[0]} is out of range: model {self.id} keeps 1..{dim} latents")

    def truncate(self, images: torch.Tensor, keep: list[int], max_batch: int) -> dict:
        """Encode the first image once, decode its top-C latents for every C in ``keep`` in one
        batch; PSNR of each against the input image."""
        self.require_truncate("truncate its latent")
        self._check_keep(keep)
        if len(keep) > max_batch:
            raise InputError(f"{len(keep)} values of keep = {len(keep)} decodes; the limit is {max_batch}")
        image = images[:1].to(self.device)
        with torch.inference_mode():
            with self._inference():
                latent = self.model.encode(image).latent
                batch = torch.cat([self.model.truncate(latent, c) for c in keep])
            decoded = self._decode(batch)
            scores = psnr(image.cpu().expand_as(decoded), decoded)
        return {
            "input": to_data_url(to_png(image[0])),
            "latent_dim": self.config.latent_dim,
            "results": [
                {"keep": c, "psnr": float(scores[i]), "image": to_data_url(to_png(decoded[i]))} for i, c in enumerate(keep)
            ],
        }

    def entropy(self) -> dict:
        """Explained entropy per ordered latent and its cumulative share above the smallest."""
        if not self.capabilities.ordered:
            raise UnsupportedError(
                f"model {self.id} ({self.config.kind}) reports no explained entropy: its latents are not ordered "
                "(see `capabilities.ordered` in /api/models)"
            )
        with torch.inference_mode(), self._inference():
            entropy = self.model.explained_entropy().detach().double().cpu()
            standard_error = self.model.explained_entropy_se().detach().double().cpu()
        if not torch.isfinite(entropy).all():
            raise InputError(f"model {self.id}'s explained entropy estimates are not finite (was it trained?)")
        above = (entropy - entropy.min()).clamp_min(0)
        total = float(above.sum())
        if total > 0:
            share = above.cumsum(0) / total
        else:
            share = torch.arange(1, len(entropy) + 1, dtype=torch.float64) / len(entropy)
        share[-1] = 1.0
        return {
            "entropy": entropy.tolist(),
            "standard_error": standard_error.nan_to_num(0.0).tolist(),
            "cumulative_share": share.clamp(0, 1).tolist(),
            "total": float(entropy.sum()),
        }

    def denoise(self, images: torch.Tensor, sigma: float, keep: int | None, seed: int) -> dict:
        """Add N(0, sigma^2) noise to the first image (clipped to [0, 1]), encode it, keep the top
        ``keep`` latents, decode; PSNRs of the noisy and denoised images against the clean one."""
        self.require_truncate("denoise by top-C decoding")
        keep = max(1, self.config.latent_dim // 16) if keep is None else keep
        self._check_keep([keep])
        clean = images[:1].float()
        noisy = add_noise(clean, sigma, torch.Generator().manual_seed(seed))
        with torch.inference_mode(), self._inference():
            latent = self.model.encode(noisy.to(self.device)).latent
            denoised = self.model.decode(self.model.truncate(latent, keep)).cpu()
        return {
            "clean": to_data_url(to_png(clean[0])),
            "noisy": to_data_url(to_png(noisy[0])),
            "denoised": to_data_url(to_png(denoised[0])),
            "noisy_psnr": float(psnr(clean, noisy)[0]),
            "denoised_psnr": float(psnr(clean, denoised)[0]),
            "sigma": sigma,
            "keep": keep,
            "seed": seed,
        }

    def metrics_work(self, samples: int, seed: int, votes: VoteCounts, n_jobs: int) -> Callable[[Progress], ModelMetrics]:
        """The work of a metrics job: checked now (InputError), run later in the job's thread.

        It encodes with this service's model without its lock (inference is read-only), so
        live decoding stays responsive. The result is served from now on (the in-memory card)
        and written beside the card as ``runs/metrics-<time>.json``, never over the shipped
        card.json (kept in memory only, logged, when the models folder is read-only).
        """
        if not isinstance(self.dataset, FactorDataset):
            raise InputError(f"model {self.id}'s dataset has no generative factors: its metrics cannot be computed")

        def work(progress: Progress) -> ModelMetrics:
            metrics = evaluate_model(self.loaded, samples, seed, votes, progress, n_jobs=n_jobs, write_card=False)
            try:
                path = save_metrics_run(self.loaded.folder, metrics)
                log.info("model %s: metrics run written to %s", self.id, path.relative_to(self.loaded.folder))
            except OSError as error:
                log.warning("model %s: metrics kept in memory only, not written (%s)", self.id, error)
            self.loaded.card = {**self.loaded.card, "metrics": metrics}
            return ModelMetrics.model_validate(metrics)

        return work

    def population(self, n: int, seed: int) -> dict:
        """``n`` seeded samples of the model's dataset, encoded: their latents (the first
        POPULATION_DIMS dims), factors, dataset indices and principal plane. Computed once per
        (n, seed) and kept (the last POPULATION_CACHE); encoding takes the model's lock per
        chunk of POPULATION_CHUNK, so live requests interleave."""
        if not isinstance(self.dataset, FactorDataset):
            raise UnsupportedError(f"model {self.id}'s dataset has no generative factors: it has no population view")
        with self._measure_lock:
            key = (n, seed)
            if key in self._populations:
                self._populations.move_to_end(key)
                return {**self._populations[key], "cached": True}
            started = time.perf_counter()
            factors = self.dataset.sample_factors(n, np.random.default_rng(seed))
            dims = min(self.config.latent_dim, POPULATION_DIMS)
            parts, render_s = [], 0.0
            for start in range(0, n, POPULATION_CHUNK):
                t0 = time.perf_counter()
                images = self.dataset.render(factors[start : start + POPULATION_CHUNK]).to(self.device)
                render_s += time.perf_counter() - t0
                with torch.inference_mode(), self._inference():
                    parts.append(self.model.encode(images).latent[:, :dims].float().cpu().numpy())
            latents = np.concatenate(parts)
            encoded = time.perf_counter()
            plane = principal_plane(latents)
            result = {
                "n": n, "seed": seed, "dims": dims, "latent_dim": self.config.latent_dim,
                "indices": self.dataset.factors_to_index(factors).tolist(),
                "factor_names": list(self.dataset.factor_names),
                "factors": factors.tolist(),
                "factor_values": self.dataset.factor_value_table(factors),
                "latents": np.round(latents, 5).tolist(),
                "pca": {name: np.round(np.asarray(value), 6).tolist() for name, value in plane.items()},
                "seconds": {"render": render_s, "encode": encoded - started - render_s, "pca": time.perf_counter() - encoded},
            }
            self._populations[key] = result
            while len(self._populations) > POPULATION_CACHE:
                self._populations.popitem(last=False)
            return {**result, "cached": False}

    def dim_information(self, n: int = 2000, seed: int = 0) -> dict:
        """How much each latent dim carries, measured on ``n`` seeded dataset images (computed
        once): a posterior's mean KL to the prior (nats), or a code's usage entropy (bits); with
        the dims ordered by it and the server's inactive verdict. 409 for other models."""
        caps = self.capabilities
        if not (caps.posterior or caps.codes):
            raise UnsupportedError(
                f"model {self.id} ({self.config.kind}) has neither a posterior nor codes: no per-dim information to order by"
            )
        if self.dataset is None:
            raise InputError(f"model {self.id}'s dataset is not available on this server")
        with self._measure_lock:
            if self._information is None:
                n = min(n, len(self.dataset))
                indices = np.sort(np.random.default_rng(seed).choice(len(self.dataset), size=n, replace=False))
                scales, means, codes = [], [], []
                for start in range(0, n, POPULATION_CHUNK):
                    images = self.dataset.images(indices[start : start + POPULATION_CHUNK]).to(self.device)
                    with torch.inference_mode(), self._inference():
                        encoding = self.model.encode(images)
                    means.append(encoding.latent.float().cpu().numpy())
                    if caps.posterior:
                        scales.append(encoding.scale.float().cpu().numpy())
                    if caps.codes:
                        codes.append(encoding.codes.cpu().numpy())
                if caps.posterior:
                    values, measure = gaussian_kl_per_dim(np.concatenate(means), np.concatenate(scales)), "kl_nats"
                else:
                    sizes = [len(book) for book in self.codebooks]
                    values, measure = code_entropy_per_dim(np.concatenate(codes), sizes), "code_entropy_bits"
                self._information = {
                    "measure": measure, "values": values.tolist(), "order": np.argsort(-values, kind="stable").tolist(),
                    "samples": n, "seed": seed,
                }
            return self._information

    def samples(self, n: int, seed: int) -> list[Sample]:
        if not isinstance(self.dataset, FactorDataset):
            raise InputError(f"model {self.id}'s dataset has no generative factors to sample")
        factors = self.dataset.sample_factors(n, np.random.default_rng(seed))
        images = self.dataset.render(factors)
        values = self.dataset.factor_value_table(factors)
        indices = self.dataset.factors_to_index(factors)
        return [
            Sample(
                index=int(indices[i]),
                factors={name: values[name][i] for name in self.dataset.factor_names},
                factor_indices=factors[i].tolist(),
                image=to_data_url(to_png(images[i])),
            )
            for i in range(n)
        ]


def metrics_csv(tables: MetricTables) -> str:
    """The metric matrices as one CSV: header ``matrix,factor,z0,...,z{D-1}``, then each matrix's
    K factor rows, and ``infomec_active,,1,0,...`` (1: an active dim) when the card has it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["matrix", "factor", *tables.dims])
    for name, matrix in tables.matrices.items():
        for factor, row in zip(tables.factor_names, matrix):
            writer.writerow([name, factor, *row])
    if tables.active is not None:
        writer.writerow(["infomec_active", "", *(int(a) for a in tables.active)])
    return out.getvalue()


class ModelRegistry:
    """Every model folder under the models directory; broken ones are reported and skipped.

    Only folders holding config.json or weights.safetensors are models (so ``ensembles/``,
    whose members ``EnsembleRegistry`` adds with ``load``, is not one)."""

    def __init__(self, models_dir: Path, device: torch.device, admission: Admission | None = None) -> None:
        self.admission = admission or Admission(per_model=1 << 30)
        self.services: dict[str, ModelService] = {}
        self.failed: dict[str, str] = {}
        self.device = device
        self.models_dir = models_dir
        self.problem: str | None = None  # why nothing could be served at all (for /readyz)
        if not models_dir.is_dir():
            log.warning("models folder %s does not exist: serving no models", models_dir)
            self.problem = "the models folder (LATENTATLAS_MODELS_DIR) does not exist"
            return
        for folder in sorted(p for p in models_dir.iterdir() if p.is_dir() and any((p / f).exists() for f in ("config.json", "weights.safetensors"))):
            self.load(folder.name, folder)

    def load(self, model_id: str, folder: Path, ensemble: str | None = None) -> bool:
        """Serve the model folder as ``model_id`` (a member of ``ensemble``, if given); a broken
        one is recorded in ``failed`` (False)."""
        try:
            service = ModelService(load_model_folder(folder, self.device), self.device, model_id, self.admission)
            service.ensemble = ensemble
            self.services[model_id] = service
            log.info("loaded model %s", model_id)
            return True
        except Exception as error:  # noqa: BLE001 - any broken folder is reported, never fatal
            log.error("skipping model %s: %s: %s", model_id, type(error).__name__, error)
            self.failed[model_id] = self.public_reason(error)
            return False

    def public_reason(self, error: Exception) -> str:
        """An error as /readyz shows it: its type and message, with the server's paths
        shortened to paths inside the models folder (the log keeps the full message)."""
        message = str(error).replace(str(self.models_dir.resolve()), "").replace(str(self.models_dir), "")
        return f"{type(error).__name__}: {message}"

    def get(self, model_id: str) -> ModelService | None:
        return self.services.get(model_id)
