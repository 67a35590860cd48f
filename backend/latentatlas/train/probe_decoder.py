"""Train a probe decoder on the frozen representation of a model without a decoder
(``latentatlas probe-decoder MODEL --steps N``): the encoder is never updated; its latents of
``TRAIN_IMAGES`` seeded training images are computed once, then a :class:`ProbeDecoder` is fitted
by Adam on binary cross-entropy (the families' reconstruction loss), and scored by its mean PSNR
on the dataset's held-out images, which it never saw."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from latentatlas.data.registry import load_dataset
from latentatlas.evaluation.quality import psnr
from latentatlas.evaluation.retrieval import standardiser
from latentatlas.nets.probe_decoder import ProbeDecoder
from latentatlas.store.folders import LoadedModel

TRAIN_IMAGES, HELDOUT_IMAGES, ENCODE_CHUNK = 4096, 512, 256


@torch.inference_mode()
def _encode(loaded: LoadedModel, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([loaded.model.encode(chunk).latent.float().cpu() for chunk in images.split(ENCODE_CHUNK)])


def train_probe_decoder(
    loaded: LoadedModel, steps: int, batch_size: int = 64, lr: float = 1e-3, seed: int = 0
) -> tuple[ProbeDecoder, dict[str, Any]]:
    """A probe decoder for ``loaded``'s frozen encoder and its card section. ValueError when the
    model cannot encode or its latents are not finite."""
    model, config = loaded.model, loaded.config.model
    if not model.capabilities.encode:
        raise ValueError(f"{loaded.folder.name} cannot encode images (capabilities.encode is false): nothing to probe")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"--steps and the batch size must be at least 1 (got {steps} and {batch_size})")
    started = time.perf_counter()
    torch.manual_seed(seed)
    dataset = load_dataset(loaded.config.dataset)
    train_images = dataset.images(np.sort(dataset.sample_train_indices(TRAIN_IMAGES, np.random.default_rng(seed))))
    heldout_images = dataset.images(dataset.holdout_indices[:HELDOUT_IMAGES])
    train_latents, heldout_latents = _encode(loaded, train_images), _encode(loaded, heldout_images)
    if not (torch.isfinite(train_latents).all() and torch.isfinite(heldout_latents).all()):
        raise ValueError(f"{loaded.folder.name} encodes some images to non-finite latents: no probe decoder")
    probe = ProbeDecoder(config.net, config.latent_dim)
    mean, scale = standardiser(train_latents.numpy())
    probe.mean.copy_(torch.from_numpy(mean).float())
    probe.scale.copy_(torch.from_numpy(scale).float())
    optimiser = torch.optim.Adam(probe.decoder.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    probe.train()
    for _ in range(steps):
        batch = torch.randint(len(train_latents), (batch_size,), generator=generator)
        loss = F.binary_cross_entropy_with_logits(probe.logits(train_latents[batch]), train_images[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    probe.eval()
    with torch.inference_mode():
        heldout_psnr = float(
            torch.cat(
                [
                    psnr(images, probe(latents))
                    for images, latents in zip(
                        heldout_images.split(ENCODE_CHUNK), heldout_latents.split(ENCODE_CHUNK), strict=True
                    )
                ]
            ).mean()
        )
    section = {
        "heldout_psnr_db": round(heldout_psnr, 3),
        "heldout_images": len(heldout_images),
        "train_images": len(train_images),
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "final_loss": round(loss.item(), 5),
        "seconds": round(time.perf_counter() - started, 1),
        "what": "a decoder trained afterwards on the frozen latents (standardised), to render them; not the model's own",
    }
    return probe, section
