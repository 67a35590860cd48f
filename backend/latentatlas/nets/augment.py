"""The augmentation pipeline of the negative-free contrastive families (BYOL, SimSiam, Barlow Twins).

Two views of a batch are two independent draws of :func:`augment`. Pure torch, batched (every
image draws its own parameters), with every random number drawn on the CPU from a
``torch.Generator`` (the same views on any device). Images (N, C, S, S) in [0, 1] come back with
the same shape, in [0, 1].

The papers' ImageNet pipeline (BYOL, Grill et al. 2020, table 6; SimSiam and Barlow Twins reuse
it) is random resized crop (area 8-100 %), horizontal flip, colour jitter (brightness 0.4,
contrast 0.4, saturation 0.2, hue 0.1, p 0.8), grey-scale (p 0.2), Gaussian blur and
solarisation. An augmentation teaches the encoder to ignore what it changes, and on dSprites
and Shapes3D what it changes may be a generative factor, so this pipeline keeps only what leaves
the factors (nearly) alone; Cao et al.'s own augmentation list for these datasets was not found
in the material at hand, so the choice below is ours:

* **random resized crop**, area ``crop_min_area``-100 % (default 70 %, not 8 %), aspect 3/4-4/3,
  resized back bilinearly: touches *position* (dSprites posX / posY: a crop shifts the shape in
  the frame by up to (1 - sqrt(0.7)) / 2 = 8 % of the side) and *scale* (dSprites scale, Shapes3D
  object scale: a zoom of up to 1 / sqrt(0.7) = 1.2x, about one of dSprites' six scale steps).
  The representation is pushed towards invariance to small shifts and zooms, no more.
* **Gaussian blur**, probability ``blur_probability`` (default 0.5), sigma 0.1-1.0 pixels:
  softens edges; no factor.
* **colour jitter**, RGB only (a binary dSprites image has no colour), probability 0.8:
  brightness, contrast and saturation each by a factor in [1 - s, 1 + s], s =
  ``colour_jitter`` (default 0.4), in that fixed order. No factor of Shapes3D is a brightness,
  a contrast or a saturation; its three factors are *hues* (floor, wall, object).
* **left out**: hue jitter and grey-scale (they change, or erase, all three Shapes3D hue factors),
  solarisation (inverts dSprites' shapes), and horizontal flip by default (``flip_probability``
  0): a mirror image moves dSprites' posX to 1 - posX and mirrors its orientation, and mirrors
  Shapes3D's orientation (the camera angle); turn it on for image folders without such factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

JITTER_PROBABILITY = 0.8  # BYOL's colour-jitter probability
BLUR_SIGMA = (0.1, 1.0)  # pixels, at 64 x 64 (BYOL's 0.1-2.0 at 224 x 224, scaled down and rounded up)
ASPECT = (3 / 4, 4 / 3)  # the papers' crop aspect-ratio range


@dataclass(frozen=True)
class Augmentations:
    """What :func:`augment` does (see the module docstring for the defaults and why)."""

    crop_min_area: float = 0.7
    blur_probability: float = 0.5
    colour_jitter: float = 0.4
    flip_probability: float = 0.0


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_resized_crop(images: torch.Tensor, min_area: float, generator: torch.Generator) -> torch.Tensor:
    """Each image cropped to a random box of area fraction U(min_area, 1) and log-uniform aspect in
    ASPECT (sides clamped to the image), anywhere inside the image, resized back bilinearly."""
    n = images.shape[0]
    area = _uniform(n, min_area, 1.0, generator)
    aspect = torch.exp(_uniform(n, math.log(ASPECT[0]), math.log(ASPECT[1]), generator))
    width, height = (area * aspect).sqrt().clamp(max=1.0), (area / aspect).sqrt().clamp(max=1.0)
    centre_x = (1 - width) * _uniform(n, -1.0, 1.0, generator)  # normalised coordinates, image = [-1, 1]^2
    centre_y = (1 - height) * _uniform(n, -1.0, 1.0, generator)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = width, centre_x, height, centre_y
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def horizontal_flip(images: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Each image mirrored left-right with ``probability``."""
    flipped = (torch.rand(images.shape[0], generator=generator) < probability).to(images.device)
    return torch.where(flipped.view(-1, 1, 1, 1), images.flip(-1), images)


def gaussian_blur(images: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Each image, with ``probability``, convolved with a separable Gaussian of sigma U(BLUR_SIGMA)
    pixels (kernel radius ceil(3 sigma_max), reflected borders); the others unchanged."""
    n, channels, size, _ = images.shape
    blurred = torch.rand(n, generator=generator) < probability
    sigma = _uniform(n, *BLUR_SIGMA, generator)
    radius = min(math.ceil(3 * BLUR_SIGMA[1]), size - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = torch.exp(-offsets.square() / (2 * sigma.square().unsqueeze(1)))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    identity = (offsets == 0).float().expand(n, -1)
    kernels = torch.where(blurred.unsqueeze(1), kernels, identity).to(images)
    kernels = kernels.repeat_interleave(channels, dim=0)  # (N C, K): one kernel per image and channel
    flat = images.reshape(1, n * channels, size, size)
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernels.view(n * channels, 1, 1, -1), groups=n * channels
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernels.view(n * channels, 1, -1, 1), groups=n * channels
    )
    return flat.view_as(images)


def _grey(images: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601), (N, 1, S, S)."""
    weights = torch.tensor([0.299, 0.587, 0.114]).to(images).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def colour_jitter(images: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """RGB images, each with probability JITTER_PROBABILITY: brightness x * b, then contrast
    (x - mean grey) c + mean grey, then saturation (x - grey) s + grey, b, c, s ~ U(1 - strength,
    1 + strength), clipped to [0, 1] after each."""
    n = images.shape[0]
    jittered = torch.rand(n, generator=generator) < JITTER_PROBABILITY
    factors = [_uniform(n, 1 - strength, 1 + strength, generator) for _ in range(3)]
    brightness, contrast, saturation = (torch.where(jittered, f, 1.0).to(images).view(-1, 1, 1, 1) for f in factors)
    images = (images * brightness).clamp(0, 1)
    mean = _grey(images).mean(dim=(2, 3), keepdim=True)
    images = ((images - mean) * contrast + mean).clamp(0, 1)
    grey = _grey(images)
    return ((images - grey) * saturation + grey).clamp(0, 1)


def augment(images: torch.Tensor, settings: Augmentations, generator: torch.Generator) -> torch.Tensor:
    """One random view of each image: crop, flip, blur, then (RGB only) colour jitter."""
    images = random_resized_crop(images, settings.crop_min_area, generator)
    images = horizontal_flip(images, settings.flip_probability, generator)
    images = gaussian_blur(images, settings.blur_probability, generator)
    if images.shape[1] == 3 and settings.colour_jitter > 0:
        images = colour_jitter(images, settings.colour_jitter, generator)
    return images.clamp(0, 1)
