"""FactorVAE: Kim and Mnih, "Disentangling by Factorising", ICML 2018. Written from the paper.

The VAE (the shared Gaussian-posterior networks, :class:`GaussianVAE`) minimises, per batch,

    L_VAE = sum_pixels BCE(x_hat, x) + KL(q(z|x) || N(0, I)) + gamma * TC_hat,
    TC_hat = mean_i log(D(z_i) / (1 - D(z_i))),   z_i ~ q(z|x_i),

the total correlation TC = KL(q(z) || prod_d q(z_d)) by the density-ratio trick: a
discriminator D (an MLP on latents) learns P(z came from q(z) rather than from prod_d q(z_d)).
As in the paper it has two outputs (a, b) and D = softmax(a, b)_0 = sigmoid(a - b), so
log(D / (1 - D)) = a - b exactly.

The discriminator minimises the cross-entropy of telling the two apart (the paper's Algorithm 1):

    L_D = -1/(2N) sum_i [log D(z_i) + log(1 - D(z~_i))],   z~ = permute_dims(z'),

z from the VAE step's batch (detached) and z' ~ q(z|x') from a second, fresh batch (the
paper's Algorithm 1 samples a second batch; some implementations split one batch in halves
instead), whose columns are shuffled independently (samples of prod_d q(z_d)). A step thus
reads two batches of ``batch_size`` images. The VAE's loss does not train D, nor D's the VAE.

Defaults and sources: gamma 6.4 (the paper's dSprites choice); the discriminator an MLP of 6
hidden layers of 1000 units with leaky ReLU 0.2 and 2 output logits ("6 layers, 1000 hidden
units"; read as six hidden layers, as disentanglement_lib does), trained by Adam with lr 1e-4,
betas (0.5, 0.9) (the paper's appendix); the VAE by Adam with lr 1e-4 and the default betas (0.9, 0.999) (paper), here
the generic AdamW with weight decay 0 (``train_defaults``, so ``latentatlas train factorvae``
starts there) and the project's element-wise gradient clipping on the VAE (not the paper's).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from latentatlas.families.autoencoders import GaussianVAE, kl_dim_curves
from latentatlas.families.base import Trainer, adamw_groups
from latentatlas.families.configs import FactorVAEConfig, TrainConfig


class Discriminator(nn.Module):
    """Latents (N, D) -> log(D(z) / (1 - D(z))) (N,), D(z) = P(z ~ q(z)): a leaky-ReLU (0.2) MLP
    with ``layers`` hidden layers (0: logistic regression) and two outputs, whose difference it returns."""

    if TYPE_CHECKING:  # nn.Module.__call__ runs forward; torch types it as returning Any

        def __call__(self, latents: torch.Tensor) -> torch.Tensor: ...

    def __init__(self, latent_dim: int, layers: int, width: int) -> None:
        super().__init__()
        sizes = [latent_dim] + [width] * layers
        modules: list[nn.Module] = []
        for size_in, size_out in itertools.pairwise(sizes):
            modules += [nn.Linear(size_in, size_out), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*modules, nn.Linear(sizes[-1], 2))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(latents)
        return logits[:, 0] - logits[:, 1]


def permute_dims(latents: torch.Tensor) -> torch.Tensor:
    """Each column shuffled by its own random permutation (torch's global RNG): samples of the
    product of the batch's marginals, prod_d q(z_d) (Kim and Mnih, Algorithm 1)."""
    n = latents.shape[0]
    columns = [latents[torch.randperm(n, device=latents.device), d] for d in range(latents.shape[1])]
    return torch.stack(columns, dim=1)


def discriminator_loss(joint_logits: torch.Tensor, permuted_logits: torch.Tensor) -> torch.Tensor:
    """L_D = -1/(2N) sum_i [log D(z_i) + log(1 - D(z~_i))] with D = sigmoid(logit), the logits
    log(D / (1 - D)) of the joint and of the permuted latents (the two-class softmax cross-entropy)."""
    joint = F.binary_cross_entropy_with_logits(joint_logits, torch.ones_like(joint_logits))
    permuted = F.binary_cross_entropy_with_logits(permuted_logits, torch.zeros_like(permuted_logits))
    return 0.5 * (joint + permuted)


class FactorVAE(GaussianVAE):
    """FactorVAE: the Gaussian VAE plus a total-correlation discriminator (see the module
    docstring). The discriminator is part of the model (saved with it, so training resumes) but
    only trains itself: a shipped folder leaves it out (``training_only``)."""

    training_only: ClassVar[tuple[str, ...]] = ("discriminator.",)
    config: FactorVAEConfig

    def __init__(self, config: FactorVAEConfig) -> None:
        super().__init__(config)
        self.discriminator = Discriminator(config.latent_dim, config.discriminator_layers, config.discriminator_width)

    def objective(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_VAE and its terms (the sampled latent among them, for the discriminator's step)."""
        terms = self.elbo_terms(images)
        terms["tc"] = self.discriminator(terms["latent"]).mean()  # mean log(D / (1 - D))
        return terms["recon"] + terms["kl"] + self.config.gamma * terms["tc"], terms

    def make_trainer(self, config: TrainConfig) -> FactorVAETrainer:
        return FactorVAETrainer(self, config)


class FactorVAETrainer(Trainer):
    """Per step: the VAE update on one batch, then the discriminator's on z from it and the
    permuted latents of a second batch (two optimisers, both checkpointed by the loop)."""

    def __init__(self, model: FactorVAE, config: TrainConfig) -> None:
        self.model, self.clip = model, config.grad_clip
        named = [(n, p) for n, p in model.named_parameters() if not n.startswith("discriminator.")]
        self.vae_params = [p for _, p in named]
        self.discriminator_params = list(model.discriminator.parameters())
        f = model.config
        self.optimizers = {
            "vae": torch.optim.AdamW(adamw_groups(model, named, config.weight_decay), lr=config.lr),
            "discriminator": torch.optim.Adam(
                self.discriminator_params, lr=f.discriminator_lr, betas=(f.discriminator_beta1, f.discriminator_beta2)
            ),
        }

    def step(self, batch: Callable[[], torch.Tensor], step: int) -> dict[str, float]:
        model = self.model
        loss, terms = model.objective(batch())
        vae = self.optimizers["vae"]
        vae.zero_grad(set_to_none=True)
        loss.backward(inputs=self.vae_params)  # the discriminator learns only from its own loss
        torch.nn.utils.clip_grad_value_(self.vae_params, self.clip)
        vae.step()

        with torch.no_grad():
            other, _, _ = model.sample_posterior(batch())
        joint_logits = model.discriminator(terms["latent"].detach())
        d_loss = discriminator_loss(joint_logits, model.discriminator(permute_dims(other)))
        discriminator = self.optimizers["discriminator"]
        discriminator.zero_grad(set_to_none=True)
        d_loss.backward(inputs=self.discriminator_params)
        discriminator.step()
        logged = {key: terms[key].item() for key in ("recon", "kl", "tc")}
        return {"loss": loss.item(), **logged, "discriminator_loss": d_loss.item(), **kl_dim_curves(terms)}
