"""SimSiam: Chen and He, "Exploring Simple Siamese Representation Learning", CVPR 2021. Written
from the paper.

One network (backbone f, projector g) and a predictor h see two views of each image; with
z = g(f(v)) and p = h(z) for each view,

    D(p, z) = -cos(p, z),   L = D(p_1, sg(z_2)) / 2 + D(p_2, sg(z_1)) / 2,

the stop-gradient sg (no gradient flows into the branch that gives the target z) being what keeps
the representation from collapsing (the paper's finding; there is no target network).

Defaults and sources: projector Linear(256, 1024) - BN - ReLU - Linear(1024, 1024) - BN - ReLU -
Linear(1024, 1024) - BN (paper: three layers of 2048, BN on the output layer too, no ReLU
there); predictor Linear(1024, 256) - BN - ReLU - Linear(256, 1024) (paper: the bottleneck
2048 -> 512 -> 2048, the same 1/4 ratio). The paper trains with SGD, momentum 0.9, lr 0.05 x
batch / 256, weight decay 1e-4, batch 512; here the generic AdamW (lr 1e-3, batch 64) with the
paper's weight decay 1e-4 (``train_defaults``).
"""

from __future__ import annotations

import torch

from latentatlas.families.configs import SimSiamConfig
from latentatlas.families.contrastive import MLP, ContrastiveModel, cosine


def simsiam_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """D(p, sg(z)) = -cos(p, z) averaged over the batch; no gradient to ``target``."""
    return -cosine(prediction, target.detach()).mean()


class SimSiam(ContrastiveModel):
    """Backbone (the explored representation), projector and predictor; symmetric loss with stop-gradient."""

    config: SimSiamConfig

    def __init__(self, config: SimSiamConfig) -> None:
        super().__init__(config)
        width = config.projector_dim
        self.projector = MLP((config.latent_dim, width, width, width), output_norm=True)
        self.predictor = MLP((width, config.predictor_hidden, width))

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        projections = [self.projector(self.backbone(view)) for view in self.views(images)]
        predictions = [self.predictor(z) for z in projections]
        total = (simsiam_loss(predictions[0], projections[1]) + simsiam_loss(predictions[1], projections[0])) / 2
        return total, {"loss": total.item()}
