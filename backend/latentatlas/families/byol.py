"""BYOL: Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020. Written from the paper.

An online network (backbone f, projector g, predictor q) and a target network (backbone and
projector of the same shapes, no predictor) see two views v, v' of each image. With the online
prediction p = q(g(f(v))) and the target projection z' = g_xi(f_xi(v')),

    l(p, z') = || p / ||p|| - z' / ||z'|| ||^2 = 2 - 2 cos(p, z'),
    L = mean_i [ l(p_i, sg(z'_i)) + l(p'_i, sg(z_i)) ]   (the loss and its view-swapped twin, summed),

and only the online network follows the gradient. After every step the target follows the online
weights by an exponential moving average xi <- tau xi + (1 - tau) theta, with the paper's schedule

    tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2,   tau_base = 0.996,

k the step and K the run's ``steps`` (a resumed run with another ``--steps`` bends the schedule).
The target starts as a copy of the online network; its parameters are the model's (saved with it
and in every checkpoint), its BatchNorm layers normalise with batch statistics as the online ones.

Defaults and sources: projector Linear(256, 1024) - BN - ReLU - Linear(1024, 256) and the
predictor Linear(256, 1024) - BN - ReLU - Linear(1024, 256) (paper: hidden 4096, output 256; the
hidden width scaled down for a CPU, the output kept); tau_base 0.996 (paper). The paper trains
with LARS, lr 0.2 x batch / 256, weight decay 1.5e-6 and batch 4096; here the generic AdamW
(lr 1e-3, batch 64) with the paper's weight decay 1.5e-6 (``train_defaults``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch

from latentatlas.families.base import GradientTrainer
from latentatlas.families.configs import BYOLConfig, TrainConfig
from latentatlas.families.contrastive import MLP, ContrastiveModel, cosine


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of 2 - 2 cos(prediction, target); no gradient to ``target``."""
    return (2 - 2 * cosine(prediction, target.detach())).mean()


def target_momentum(tau_base: float, step: int, total_steps: int) -> float:
    """tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2 (k clamped to K)."""
    progress = min(step, total_steps) / max(total_steps, 1)
    return 1 - (1 - tau_base) * (math.cos(math.pi * progress) + 1) / 2


class BYOL(ContrastiveModel):
    """Online backbone (the explored representation), projector and predictor; EMA target."""

    config: BYOLConfig

    def __init__(self, config: BYOLConfig) -> None:
        super().__init__(config)
        self.projector = MLP((config.latent_dim, config.projector_hidden, config.projector_dim))
        self.predictor = MLP((config.projector_dim, config.predictor_hidden, config.projector_dim))
        self.target_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def online_pairs(self) -> list[tuple[torch.nn.Parameter, torch.nn.Parameter]]:
        """(target parameter, online parameter), matched by position."""
        target = [*self.target_backbone.parameters(), *self.target_projector.parameters()]
        online = [*self.backbone.parameters(), *self.projector.parameters()]
        return list(zip(target, online, strict=True))

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """xi <- tau xi + (1 - tau) theta for every target parameter."""
        for target, online in self.online_pairs():
            target.lerp_(online, 1 - tau)

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        first, second = self.views(images)
        predictions = [self.predictor(self.projector(self.backbone(view))) for view in (first, second)]
        with torch.no_grad():
            targets = [self.target_projector(self.target_backbone(view)) for view in (first, second)]
        total = byol_loss(predictions[0], targets[1]) + byol_loss(predictions[1], targets[0])
        return total, {"loss": total.item()}

    def make_trainer(self, config: TrainConfig) -> BYOLTrainer:
        return BYOLTrainer(self, config)


class BYOLTrainer(GradientTrainer):
    """AdamW on the online network (the target's parameters take no gradient), then the EMA
    update of the target with tau_k; logs the loss and tau."""

    model: BYOL

    def __init__(self, model: BYOL, config: TrainConfig) -> None:
        super().__init__(model, config)
        self.total_steps = config.steps

    def step(self, batch: Callable[[], torch.Tensor], step: int) -> dict[str, float]:
        parts = super().step(batch, step)
        tau = target_momentum(self.model.config.tau_base, step, self.total_steps)
        self.model.update_target(tau)
        return {**parts, "tau": tau}
