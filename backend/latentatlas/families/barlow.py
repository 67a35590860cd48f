"""Barlow Twins: Zbontar, Jing, Misra, LeCun and Deny, "Barlow Twins: Self-Supervised Learning via
Redundancy Reduction", ICML 2021. Written from the paper.

One network (backbone, projector) embeds two views of each image, z^A and z^B (N, D). Each
embedding dimension is normalised along the batch (mean 0, variance 1: z_hat = (z - mean) /
sqrt(var + 1e-5), the biased variance, as a BatchNorm without affine parameters), their
cross-correlation is

    C_ij = sum_b z_hat^A_bi z_hat^B_bj / N,

and the loss drives it to the identity:

    L = sum_i (1 - C_ii)^2 + lambda sum_i sum_{j != i} C_ij^2.

Defaults and sources: projector three Linear layers of 1024, BN and ReLU after the first two
(paper: 8192, the same layout). lambda: the paper's 5e-3 is for D = 8192; with D - 1 off-diagonal
terms per row against one diagonal term, we keep lambda D (the weight of a row's off-diagonal
terms relative to its diagonal term) as the paper's, lambda = 5e-3 x 8192 / D, 0.04 at the default
D = 1024 (``offdiag_weight`` overrides it). The paper trains with LARS, lr 0.2, weight decay
1.5e-6 and batch 2048; here the generic AdamW (lr 1e-3, batch 64) with the paper's weight decay
(``train_defaults``).
"""

from __future__ import annotations

import torch

from latentatlas.families.configs import BarlowTwinsConfig
from latentatlas.families.contrastive import MLP, ContrastiveModel

NORM_EPS = 1e-5


def cross_correlation(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """C (D, D) of two embeddings (N, D), each dimension normalised along the batch."""

    def normalised(z: torch.Tensor) -> torch.Tensor:
        return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, correction=0) + NORM_EPS)

    return normalised(first).T @ normalised(second) / first.shape[0]


def barlow_twins_loss(
    first: torch.Tensor, second: torch.Tensor, off_diagonal_lambda: float
) -> tuple[torch.Tensor, ...]:
    """(L, on-diagonal term, off-diagonal term): L = sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2."""
    correlation = cross_correlation(first, second)
    diagonal = torch.diagonal(correlation)
    on = (1 - diagonal).square().sum()
    off = correlation.square().sum() - diagonal.square().sum()
    return on + off_diagonal_lambda * off, on, off


class BarlowTwins(ContrastiveModel):
    """Backbone (the explored representation) and projector; cross-correlation to the identity."""

    config: BarlowTwinsConfig

    def __init__(self, config: BarlowTwinsConfig) -> None:
        super().__init__(config)
        width = config.projector_dim
        self.projector = MLP((config.latent_dim, width, width, width))

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        first, second = (self.projector(self.backbone(view)) for view in self.views(images))
        total, on, off = barlow_twins_loss(first, second, self.config.off_diagonal_lambda)
        return total, {"loss": total.item(), "on_diagonal": on.item(), "off_diagonal": off.item()}
