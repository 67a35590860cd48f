"""Saved latents of a model run elsewhere (``latentatlas import latents``): the latents z (N, D)
of N samples with their factor indices y (N, K), and optionally the images they encode.

Nothing here encodes a new image or decodes a latent: the family is encoder-only, and its
``encode`` is a lookup, only when the images were saved with the latents: the latent of the
nearest saved image (pixel L2; exactly the saved latent for a saved image). With images or
dataset indices saved, the saved latents are the model's retrieval index
(:class:`~latentatlas.families.base.SavedSamples`): the samples nearest to a latent, and
traversals by retrieval. Everything is stored as buffers in ``weights.safetensors`` (images as
uint8), so the folder loads like a trained one.
"""

from __future__ import annotations

import numpy as np
import torch

from latentatlas.families.base import Encoding, LatentModel, SavedSamples
from latentatlas.families.configs import LatentsConfig

LOOKUP_CHUNK = 4096
"""Saved images compared with the query at once by the nearest-image lookup."""


class SavedLatents(LatentModel, SavedSamples):
    """Buffers ``latents`` (N, D) float32, ``factors`` (N, K) int64, with ``stored_images``
    ``images`` (N, C, S, S) uint8, and with ``dataset_indices`` ``indices`` (N,) int64."""

    config: LatentsConfig
    latents: torch.Tensor
    factors: torch.Tensor
    images: torch.Tensor
    indices: torch.Tensor

    def __init__(self, config: LatentsConfig) -> None:
        super().__init__(config)
        self.register_buffer("latents", torch.zeros(config.samples, config.latent_dim))
        self.register_buffer("factors", torch.zeros(config.samples, config.factors, dtype=torch.int64))
        if config.dataset_indices:
            self.register_buffer("indices", torch.zeros(config.samples, dtype=torch.int64))
        if config.stored_images:
            net = config.net
            self.register_buffer(
                "images", torch.zeros(config.samples, net.channels, net.image_size, net.image_size, dtype=torch.uint8)
            )

    def encode(self, images: torch.Tensor) -> Encoding:
        """The saved latent of each image's nearest saved image (squared pixel distance)."""
        if not self.config.stored_images:
            raise TypeError("these saved latents came without their images: nothing to look an image up in")
        queries = images.flatten(1).float().to(self.latents.device)
        best = torch.full((len(queries),), float("inf"), device=queries.device)
        nearest = torch.zeros(len(queries), dtype=torch.int64, device=queries.device)
        for start in range(0, self.config.samples, LOOKUP_CHUNK):
            saved = self.images[start : start + LOOKUP_CHUNK].flatten(1).float() / 255
            distance, index = torch.cdist(queries, saved).min(dim=1)
            closer = distance < best
            best, nearest = torch.where(closer, distance, best), torch.where(closer, index + start, nearest)
        return Encoding(self.latents[nearest].to(images.device))

    def saved_latents(self) -> np.ndarray:
        return self.latents.double().cpu().numpy()

    def saved_factors(self, rows: np.ndarray) -> np.ndarray:
        return self.factors[torch.as_tensor(rows, dtype=torch.int64)].cpu().numpy()

    def saved_images(self, rows: np.ndarray) -> torch.Tensor | None:
        if not self.config.stored_images:
            return None
        return self.images[torch.as_tensor(rows, dtype=torch.int64)].float().cpu() / 255

    def saved_dataset_indices(self, rows: np.ndarray) -> np.ndarray | None:
        if not self.config.dataset_indices:
            return None
        return self.indices[torch.as_tensor(rows, dtype=torch.int64)].cpu().numpy()

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        raise TypeError("saved latents have no decoder (capabilities.decode is false)")
