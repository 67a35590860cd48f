"""Retrieval over a model's latent space (the ``retrieval`` capability): the dataset images
nearest to a latent, and traversals by retrieval (each swept latent shown as its nearest dataset
image). What stands in for a decode when a model has none; it works for decoders too.

The index is INDEX_SIZE seeded dataset images, encoded once per model and kept, or, for a model
that holds its own samples (saved latents, :class:`~latentatlas.families.base.SavedSamples`), those
samples' latents, shown by their saved images or dataset rows; distances are Euclidean on latents
standardised by the index's own per-dim sds (:mod:`~latentatlas.evaluation.retrieval` says why)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from latentatlas.data.base import FactorDataset
from latentatlas.errors import InputError, UnsupportedError
from latentatlas.evaluation.retrieval import nearest, standardise, standardiser, sweep_queries
from latentatlas.families.base import SavedSamples
from latentatlas.imaging import tile_grid, to_data_url, to_png
from latentatlas.serve.schemas import NearestResponse, Neighbour, RetrievalIndex, RetrievalTraverseResponse
from latentatlas.serve.services.core import ModelService

INDEX_SIZE, INDEX_SEED = 2000, 0
"""Dataset images in a model's retrieval index, and the seed that picks them."""

INDEX_CHUNK = 256
"""Index images encoded per turn of the model's lock (live requests interleave)."""

METRIC = "Euclidean distance on latents standardised by the index's per-dim mean and sd"


@dataclass(frozen=True)
class LatentIndex:
    """Dataset indices (N,) (a model's own samples: sample rows), their standardised latents (N, D),
    and the standardiser."""

    indices: np.ndarray
    standardised: np.ndarray
    mean: np.ndarray
    scale: np.ndarray


class RetrievalService:
    """One model's retrieval index and queries (one per model: ``core.part(RetrievalService)``)."""

    def __init__(self, core: ModelService) -> None:
        self.core = core
        self._index: LatentIndex | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, core: ModelService) -> RetrievalService:
        return core.part(cls)

    def index(self) -> LatentIndex:
        """The model's index, built on first use: INDEX_SIZE seeded dataset images (fewer in a
        smaller dataset), encoded INDEX_CHUNK at a time. 409 without the capability."""
        core = self.core
        core.require("retrieval", "retrieve dataset images near a latent")
        if isinstance(core.model, SavedSamples):
            return self._saved_index(core.model)
        core.require("encode", "index dataset images for retrieval")
        dataset = core.dataset
        if dataset is None:
            raise UnsupportedError(
                f"model {core.id}'s dataset ({core.loaded.config.dataset.name}) is not available on this server"
            )
        with self._lock:
            if self._index is None:
                size = min(INDEX_SIZE, len(dataset))
                indices = np.sort(np.random.default_rng(INDEX_SEED).choice(len(dataset), size=size, replace=False))
                parts = []
                for start in range(0, size, INDEX_CHUNK):
                    images = dataset.images(indices[start : start + INDEX_CHUNK]).to(core.device)
                    with torch.inference_mode(), core.inference():
                        parts.append(core.model.encode(images).latent.double().cpu().numpy())
                latents = np.concatenate(parts)
                if not np.isfinite(latents).all():
                    raise UnsupportedError(
                        f"model {core.id} encodes some dataset images to non-finite latents: no index"
                    )
                mean, scale = standardiser(latents)
                self._index = LatentIndex(indices, standardise(latents, mean, scale), mean, scale)
            return self._index

    def _saved_index(self, model: SavedSamples) -> LatentIndex:
        """Every saved sample (rows 0..N-1), by its saved latent."""
        with self._lock:
            if self._index is None:
                latents = model.saved_latents()
                mean, scale = standardiser(latents)
                self._index = LatentIndex(np.arange(len(latents)), standardise(latents, mean, scale), mean, scale)
            return self._index

    def describe(self, index: LatentIndex) -> RetrievalIndex:
        saved = isinstance(self.core.model, SavedSamples)
        return RetrievalIndex(
            size=len(index.indices),
            seed=None if saved else INDEX_SEED,
            dataset="the saved samples" if saved else self.core.loaded.config.dataset.name,
            metric=METRIC,
        )

    def _images(self, found: np.ndarray) -> torch.Tensor:
        """The pictures of index entries ``found``: dataset images, or a model's saved samples' own."""
        model = self.core.model
        if isinstance(model, SavedSamples):
            images = model.saved_images(found)
            if images is not None:
                return images
            rows = model.saved_dataset_indices(found)
            if rows is not None:
                return self.core.dataset_images(rows.tolist())
        return self.core.dataset_images(found.tolist())

    def nearest(self, latent: list[float], k: int) -> NearestResponse:
        """The ``k`` index images nearest to ``latent``, nearest first, with their factor values."""
        index = self.index()
        if k > len(index.indices):
            raise InputError(f"k = {k}, but model {self.core.id}'s retrieval index holds {len(index.indices)} images")
        query = standardise(self.core.latents([latent]).cpu().numpy(), index.mean, index.scale)
        positions, distances = nearest(index.standardised, query, k)
        found = index.indices[positions[0]]
        images = self._images(found)
        factors = self._factor_values(found)
        neighbours = [
            Neighbour(
                index=int(found[i]),
                distance=round(float(distances[0, i]), 6),
                image=to_data_url(to_png(images[i])),
                factors=factors[i] if factors else None,
            )
            for i in range(k)
        ]
        return NearestResponse(neighbours=neighbours, index=self.describe(index))

    def traverse(
        self, latent: list[float], dims: list[int] | None, steps: int, max_batch: int
    ) -> RetrievalTraverseResponse:
        """/traverse's sweep (same dims, values and limits), each cell the nearest index image."""
        index = self.index()
        base, dims, values = self.core.traversal_plan(latent, dims, steps, max_batch)
        columns = len(values[0])
        queries = standardise(sweep_queries(base.cpu().numpy(), dims, values), index.mean, index.scale)
        positions, distances = nearest(index.standardised, queries, 1)
        found = index.indices[positions[:, 0]]
        grid = tile_grid(self._images(found), len(dims), columns)
        return RetrievalTraverseResponse(
            image=to_data_url(to_png(grid)),
            dims=dims,
            values=values,
            steps=columns,
            tile=self.core.config.net.image_size,
            indices=found.reshape(len(dims), columns).tolist(),
            distances=np.round(distances[:, 0], 6).reshape(len(dims), columns).tolist(),
            index=self.describe(index),
        )

    def _factor_values(self, found: np.ndarray) -> list[dict[str, float | str]] | None:
        """Each found image's factor values (None for a dataset without factors); a saved sample's
        are its saved factor indices."""
        model = self.core.model
        if isinstance(model, SavedSamples):
            names = self.core.loaded.card.get("dataset", {}).get("factor_names") or []
            factors = model.saved_factors(found)
            return [dict(zip(names, map(float, row))) for row in factors] if names else None
        dataset = self.core.dataset
        if not isinstance(dataset, FactorDataset):
            return None
        table = dataset.factor_value_table(dataset.index_to_factors(found))
        return [{name: table[name][i] for name in dataset.factor_names} for i in range(len(found))]
