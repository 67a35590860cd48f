"""What the negative-free contrastive families (BYOL, SimSiam, Barlow Twins) share: the options of
their augmentations, the backbone whose output is the explored latent, the projector MLP, and the
two augmented views of a batch.

* **Backbone**: the shared conv encoder (:class:`~latentatlas.nets.blocks.ConvEncoder`, the
  network every autoencoder family here encodes with) with a ``latent_dim``-wide output, by
  default :data:`~latentatlas.families.configs.REPRESENTATION_DIM` = 256 (the papers' ResNet-50 gives 2048; Cao et al. study such
  high-dimensional representations). That output is the representation: ``encode(images).latent``.
* **Projector** (and predictor): Linear - BatchNorm - ReLU blocks and a last Linear (:func:`mlp`),
  as in the papers; each family scales the papers' widths for a CPU (see its module).
* **Views**: two independent draws of :func:`~latentatlas.nets.augment.augment` from a
  ``torch.Generator`` seeded from torch's global RNG, so a checkpoint (which saves that RNG)
  resumes with the same views.

The models have no decoder and no prior (``decode=False``); they train with the generic loop.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from latentatlas.families.base import Encoding, LatentModel
from latentatlas.families.configs import ContrastiveConfig
from latentatlas.nets.augment import Augmentations, augment
from latentatlas.nets.blocks import ConvEncoder


class MLP(nn.Module):
    """Linear - BatchNorm - ReLU for every hidden width, then a last Linear (and BatchNorm when
    ``output_norm``, as SimSiam's projector): ``sizes`` = (input, hidden..., output)."""

    if TYPE_CHECKING:  # nn.Module.__call__ runs forward; torch types it as returning Any

        def __call__(self, inputs: torch.Tensor) -> torch.Tensor: ...

    def __init__(self, sizes: tuple[int, ...], output_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for size_in, size_out in itertools.pairwise(sizes[:-1]):
            layers += [nn.Linear(size_in, size_out), nn.BatchNorm1d(size_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        if output_norm:
            layers.append(nn.BatchNorm1d(sizes[-1]))
        self.net = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.net(inputs)
        return outputs


def view_generator() -> torch.Generator:
    """A CPU generator seeded from torch's global RNG (which training checkpoints)."""
    return torch.Generator().manual_seed(int(torch.randint(2**62, (1,))))


class ContrastiveModel(LatentModel):
    """The backbone and the views; a family adds its heads and ``loss``."""

    training_only: ClassVar[tuple[str, ...]] = ("projector.", "predictor.", "target_")
    config: ContrastiveConfig

    def __init__(self, config: ContrastiveConfig) -> None:
        super().__init__(config)
        self.backbone = ConvEncoder(config.net, config.latent_dim)
        self.augmentations = Augmentations(
            config.crop_min_area, config.blur_probability, config.colour_jitter, config.flip_probability
        )

    def encode(self, images: torch.Tensor) -> Encoding:
        """The backbone representation (N, latent_dim)."""
        return Encoding(self.backbone(images))

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        raise TypeError(f"a {self.config.kind} encoder has no decoder (capabilities.decode is false)")

    def views(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views of a batch, drawn from one :func:`view_generator`."""
        generator = view_generator()
        return augment(images, self.augmentations, generator), augment(images, self.augmentations, generator)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of matching rows, (N,)."""
    return torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-8)
