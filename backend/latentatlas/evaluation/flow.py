"""Held-out evaluation of an entropy-ordered flow: what top-C truncation buys, against PCA.

``evaluate_flow`` measures, on the dataset's held-out images (Galperin & Koethe 2026's
protocol, on our data):

* bits per dimension of the 8-bit images (centred dequantisation, no noise augmentation):
  ``(NLL / D + log 256) / log 2`` with ``NLL = 1/2 |z|^2 + D/2 log 2 pi - log|det J_f(x)|``;
* the explained entropy H_i per ordered latent and its standard error (the held-out estimate
  that fixed the order, on the dataset's validation images: disjoint from these);
* PSNR of the top-C decode against C, for log-spaced C from 1 to D, beside PCA's (principal
  axes of a training sample, Jolliffe 2002) at the same C: the linear baseline to beat;
* denoising: N(0, sigma^2) noise on [0, 1] pixels, encode, keep the top C, decode; PSNR
  against the clean image for every C (and PCA's projection of the noisy image), the noisy
  image's own PSNR, and the gain at the best C (the flow's and PCA's);

with the training curves, the throughput (steps/s, bits/dim by wall minute); and draws
``traversals.png``: the top latents of one held-out image swept over +-2.5 sd.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from latentatlas.data.base import ImageDataset
from latentatlas.data.registry import load_dataset
from latentatlas.evaluation.ordered_latents import log_keep_grid
from latentatlas.evaluation.quality import add_noise, psnr
from latentatlas.families.base import ExactLikelihood, LatentModel, OrderedLatents, capable
from latentatlas.imaging import sheet
from latentatlas.store.folders import CARD_FILE, LoadedModel, write_json

TRAVERSALS_FILE = "traversals.png"
TRUNCATION_POINTS = 17
DENOISE_SIGMA = 0.1


def keep_grid(dim: int, points: int = TRUNCATION_POINTS) -> list[int]:
    """Log-spaced C values from 1 to ``dim`` (distinct integers, both ends included), plus
    D/64, D/16 and D/4, where the quality bar compares the flow with PCA."""
    fractions = {max(1, dim // f) for f in (64, 16, 4)}
    return sorted(set(log_keep_grid(dim, points)) | fractions)


class PCA:
    """Principal axes of a training sample; ``reconstruct(x, C)`` projects onto the top C."""

    def __init__(self, images: torch.Tensor) -> None:
        flat = images.flatten(1).double()
        self.mean = flat.mean(dim=0)
        centred = flat - self.mean
        variances, axes = torch.linalg.eigh(centred.T @ centred / max(1, len(flat) - 1))
        self.axes = axes[:, torch.argsort(variances, descending=True)]
        self.shape = images.shape[1:]

    def reconstruct(self, images: torch.Tensor, keep: int) -> torch.Tensor:
        basis = self.axes[:, :keep]
        flat = images.flatten(1).double() - self.mean
        return ((flat @ basis) @ basis.T + self.mean).float().clamp(0, 1).view(-1, *self.shape)


def pca_sample_count(dim: int) -> int:
    """How many training images the PCA baseline is fitted on by default: 4 x D, within 2,048..16,384."""
    return min(16_384, max(2_048, 4 * dim))


def training_pca(
    dataset: ImageDataset,
    dim: int,
    rng: np.random.Generator,
    samples: int | None = None,
    device: torch.device | str = "cpu",
) -> tuple[PCA, int]:
    """The PCA baseline of a flow with ``dim`` latents: fitted on ``samples`` training images (default
    :func:`pca_sample_count`) drawn with ``rng``; returns it with the number of images."""
    samples = samples or pca_sample_count(dim)
    return PCA(dataset.images(dataset.sample_train_indices(samples, rng), device)), samples


@torch.inference_mode()
def bits_per_dim(model: LatentModel, images: torch.Tensor) -> float:
    """Mean bits per dimension of 8-bit ``images`` under a model with an exact likelihood."""
    return float(capable(model, ExactLikelihood).bits_per_dim(images).mean())


@torch.inference_mode()
def truncation_curve(model: LatentModel, images: torch.Tensor, keeps: list[int], pca: PCA | None = None) -> list[float]:
    """Mean PSNR (dB) of the top-C decode of ``images`` for every C in ``keeps`` (PCA's projection
    when ``pca`` is given)."""
    if pca is not None:
        return [float(psnr(images, pca.reconstruct(images, c)).mean()) for c in keeps]
    latent = model.encode(images).latent
    return [float(psnr(images, model.decode(capable(model, OrderedLatents).truncate(latent, c))).mean()) for c in keeps]


@torch.inference_mode()
def denoising_curve(
    model: LatentModel, clean: torch.Tensor, noisy: torch.Tensor, keeps: list[int], pca: PCA | None = None
) -> list[float]:
    """Mean PSNR against ``clean`` of the top-C decode of ``noisy`` (or PCA's projection)."""
    if pca is not None:
        return [float(psnr(clean, pca.reconstruct(noisy, c)).mean()) for c in keeps]
    latent = model.encode(noisy).latent
    return [float(psnr(clean, model.decode(capable(model, OrderedLatents).truncate(latent, c))).mean()) for c in keeps]


@torch.inference_mode()
def traversal_sheet(
    model: LatentModel, image: torch.Tensor, rows: int = 8, steps: int = 9, span: float = 2.5
) -> Image.Image:
    """Rows: the top ``rows`` latents of ``image`` (1, C, S, S) swept from -span to +span
    (latents are standardised: the base is N(0, 1)); 2x upscaled."""
    latent = model.encode(image).latent[0]
    values = torch.linspace(-span, span, steps)
    grid = latent.repeat(rows * steps, 1)
    for r in range(min(rows, model.config.latent_dim)):
        grid[r * steps : (r + 1) * steps, r] = values
    return sheet(model.decode(grid), rows)


def bpd_by_minute(curves: dict[str, list[float]]) -> list[list[float]]:
    """[[minute, bits/dim], ...]: the training bits/dim last logged by each whole wall minute
    (and at the end), from a card's curves (``seconds`` and ``bpd``)."""
    seconds, bpd = curves.get("seconds", []), curves.get("bpd", [])
    out: list[list[float]] = []
    for minute in range(1, int(seconds[-1] // 60) + 1 if seconds else 0):
        logged = [b for t, b in zip(seconds, bpd) if t <= 60 * minute]
        if logged:
            out.append([minute, logged[-1]])
    if seconds and bpd:
        out.append([round(seconds[-1] / 60, 2), bpd[-1]])
    return out


def evaluate_flow(
    model: LatentModel,
    dataset: ImageDataset,
    device: torch.device,
    curves: dict[str, list[float]] | None = None,
    images: int = 500,
    pca_samples: int | None = None,
    sigma: float = DENOISE_SIGMA,
    seed: int = 0,
) -> tuple[dict, Image.Image]:
    """The card's ``flow`` section and the traversal sheet (see the module docstring).

    PCA is fitted on ``pca_samples`` training images (default: 4 x D, within 2,048..16,384),
    drawn with ``seed`` like the noise. With the training ``curves``, the section also holds
    the training throughput: steps/s and the bits/dim reached by each wall minute."""
    model.eval()
    rng = np.random.default_rng(seed)
    held_out = dataset.evaluation_indices[:images]
    clean = torch.cat([dataset.images(held_out[s : s + 250], device) for s in range(0, len(held_out), 250)])
    pca, pca_samples = training_pca(dataset, model.config.latent_dim, rng, pca_samples, device)
    noisy = add_noise(clean, sigma, torch.Generator(device="cpu").manual_seed(seed))
    keeps = keep_grid(model.config.latent_dim)
    denoised = denoising_curve(model, clean, noisy, keeps)
    pca_denoised = denoising_curve(model, clean, noisy, keeps, pca)
    best, pca_best = int(np.argmax(denoised)), int(np.argmax(pca_denoised))
    noisy_psnr = float(psnr(clean, noisy).mean())
    section = {
        "images": len(held_out),
        "bits_per_dim": bits_per_dim(model, clean) if model.capabilities.likelihood else None,
        "explained_entropy": capable(model, OrderedLatents).explained_entropy().tolist(),
        "explained_entropy_se": capable(model, OrderedLatents).explained_entropy_se().tolist(),
        "truncation": {
            "keep": keeps,
            "psnr": truncation_curve(model, clean, keeps),
            "pca_psnr": truncation_curve(model, clean, keeps, pca),
            "pca_samples": pca_samples,
        },
        "denoise": {
            "sigma": sigma,
            "keep": keeps,
            "psnr": denoised,
            "pca_psnr": pca_denoised,
            "noisy_psnr": noisy_psnr,
            "best_keep": keeps[best],
            "gain_db": denoised[best] - noisy_psnr,
            "pca_best_keep": keeps[pca_best],
            "pca_gain_db": pca_denoised[pca_best] - noisy_psnr,
        },
    }
    if curves and curves.get("seconds"):
        section["throughput"] = {
            "steps_per_second": curves["step"][-1] / curves["seconds"][-1] if curves["seconds"][-1] > 0 else None,
            "bpd_by_minute": bpd_by_minute(curves),
        }
    return section, traversal_sheet(model, clean[:1])


def refresh_flow_card(loaded: LoadedModel, dataset: ImageDataset | None = None) -> dict:
    """Recompute a loaded flow's card ``flow`` section (written into its folder's card.json and
    ``loaded.card``) and its traversals.png; returns the section. ``dataset``: the model's dataset
    already open (default: opened from its config)."""
    if not loaded.model.capabilities.ordered:
        raise ValueError(f"{loaded.folder} holds a {loaded.config.model.kind}, whose latents are not ordered")
    device = loaded.model.device
    dataset = dataset if dataset is not None else load_dataset(loaded.config.dataset)
    section, traversals = evaluate_flow(loaded.model, dataset, device, curves=loaded.card.get("curves"))
    kept = {key: value for key, value in (loaded.card.get("flow") or {}).items() if key == "med"}  # scored apart
    loaded.card["flow"] = section | kept
    write_json(loaded.folder / CARD_FILE, loaded.card)
    traversals.save(loaded.folder / TRAVERSALS_FILE)
    return section
