"""Held-out evaluation of a model: reconstruction quality, latent statistics, and the pictures
of its card (reconstructions, and samples from the prior where the model has one)."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from latentatlas.data.base import ImageDataset
from latentatlas.families.base import LatentModel, PriorSampling, capable
from latentatlas.imaging import sheet


def psnr(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, 10 log10(1 / MSE), for images in [0, 1]."""
    mse = (reference - estimate).square().flatten(1).mean(dim=1).clamp_min(1e-12)
    return -10 * torch.log10(mse)


def add_noise(images: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """images + sigma * N(0, 1), clipped to [0, 1]; the noise is drawn on the CPU from
    ``generator`` (reproducible on any device)."""
    noise = torch.randn(images.shape, generator=generator).to(images.device)
    return (images + sigma * noise).clamp(0, 1)


def binary_iou(reference: torch.Tensor, estimate: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of the thresholded images, per image (1 where both are empty)."""
    a, b = (reference > threshold).flatten(1), (estimate > threshold).flatten(1)
    union = (a | b).sum(dim=1)
    return torch.where(union > 0, (a & b).sum(dim=1) / union.clamp_min(1), torch.ones_like(union, dtype=torch.float32))


@torch.inference_mode()
def evaluate_reconstruction(
    model: LatentModel, dataset: ImageDataset, device: torch.device, batch_size: int = 250
) -> dict:
    """PSNR (and IoU for binary datasets) of reconstructions of the held-out samples (a model
    without a decoder: none), plus per-dimension latent statistics (mean, sd, min, max; mean
    posterior sd for VAEs) that size the app's sliders."""
    model.eval()
    indices = dataset.holdout_indices
    psnrs, ious, latents, scales = [], [], [], []
    for start in range(0, len(indices), batch_size):
        images = dataset.images(indices[start : start + batch_size], device)
        encoding = model.encode(images)
        latent = encoding.latent
        if encoding.scale is not None:
            scales.append(encoding.scale.cpu())
        if model.capabilities.decode:
            recon = model.decode(latent)
            psnrs.append(psnr(images, recon).cpu())
            ious.append(binary_iou(images, recon).cpu())
        latents.append(latent.cpu())
    z = torch.cat(latents)
    latent_stats: dict[str, list[float]] = {
        "mean": z.mean(0).tolist(),
        "std": z.std(0, correction=0).tolist(),  # population sd: finite for a single held-out image
        "min": z.min(0).values.tolist(),
        "max": z.max(0).values.tolist(),
    }
    if scales:
        latent_stats["posterior_scale"] = torch.cat(scales).mean(0).tolist()
    result: dict[str, Any] = {"samples": len(indices), "latent_stats": latent_stats}
    if psnrs:
        result["psnr_db"] = float(torch.cat(psnrs).mean())
    if psnrs and dataset.channels == 1:
        result["iou"] = float(torch.cat(ious).mean())
    return result


@torch.inference_mode()
def reconstruction_sheet(
    model: LatentModel, dataset: ImageDataset, device: torch.device, count: int = 10
) -> Image.Image:
    """Two rows: held-out originals above, their reconstructions below (2x upscaled).

    The held-out indices are sorted, so take them evenly spread to show varied factors."""
    held_out = dataset.holdout_indices
    images = dataset.images(held_out[:: max(1, len(held_out) // count)][:count], device)
    recon = model.decode(model.encode(images).latent)
    return sheet(torch.cat([images, recon]), rows=2)


@torch.inference_mode()
def samples_sheet(model: LatentModel, seed: int = 0, rows: int = 4, cols: int = 10) -> Image.Image:
    """``rows`` x ``cols`` images decoded from latents drawn from the model's prior (2x upscaled)."""
    latents = capable(model, PriorSampling).sample_prior(rows * cols, torch.Generator().manual_seed(seed))
    return sheet(model.decode(latents), rows)
