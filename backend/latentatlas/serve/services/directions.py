"""The principal directions of a model's latents (GANSpace, Haerkoenen et al. 2020, over the
encoder's latents): PCA (:func:`latentatlas.evaluation.population.principal_directions`) of the
latents of the model's held-out dataset images, measured once per model. An edit along
direction k adds t * sd_k * v_k to a latent; the app decodes it as any other latent."""

from __future__ import annotations

import threading

import numpy as np
import torch

from latentatlas.errors import InputError
from latentatlas.evaluation.population import principal_directions
from latentatlas.serve.schemas import DirectionsResponse, PrincipalDirection
from latentatlas.serve.services.core import ModelService

DIRECTION_SAMPLES = 1000
"""Held-out images encoded (evenly spread over the held-out set; all of them when it is smaller)."""
MAX_DIRECTIONS = 32
"""Directions measured (and the most a request may ask for)."""
ENCODE_CHUNK = 256


class DirectionsService:
    """One model's principal directions (one per model: ``core.part(DirectionsService)``)."""

    def __init__(self, core: ModelService) -> None:
        self.core = core
        self._lock = threading.Lock()
        self._measured: DirectionsResponse | None = None

    def directions(self, count: int) -> DirectionsResponse:
        """The ``count`` directions of largest variance (fewer where the latents span fewer), with
        each one's sd and share of the total variance. 409 without an encoder; 422 when the
        model's dataset is not on this server."""
        with self._lock:
            if self._measured is None:
                self._measured = self._measure()
        measured = self._measured
        return measured.model_copy(update={"directions": measured.directions[:count]})

    def _measure(self) -> DirectionsResponse:
        core = self.core
        core.require("encode", "find the principal directions of its latents")
        dataset = core.dataset
        if dataset is None:
            raise InputError(
                f"model {core.id}'s dataset ({core.loaded.config.dataset.name}) is not available on this server: "
                "its latents' directions are measured on its held-out images"
            )
        held_out = dataset.holdout_indices
        indices = held_out[:: max(1, len(held_out) // DIRECTION_SAMPLES)][:DIRECTION_SAMPLES]
        parts = []
        for start in range(0, len(indices), ENCODE_CHUNK):
            images = dataset.images(indices[start : start + ENCODE_CHUNK]).to(core.device)
            with torch.inference_mode(), core.inference():
                parts.append(core.model.encode(images).latent.double().cpu().numpy())
        latents = np.concatenate(parts)
        pca = principal_directions(latents, MAX_DIRECTIONS)
        found = [k for k in range(MAX_DIRECTIONS) if pca["explained_variance"][k] > 0]
        return DirectionsResponse(
            directions=[
                PrincipalDirection(
                    vector=np.round(pca["components"][k], 6).tolist(),
                    sd=float(np.sqrt(pca["explained_variance"][k])),
                    explained_variance_ratio=float(pca["explained_variance_ratio"][k]),
                )
                for k in found
            ],
            mean=np.round(pca["mean"], 6).tolist(),
            samples=len(latents),
            latent_dim=core.config.latent_dim,
        )
