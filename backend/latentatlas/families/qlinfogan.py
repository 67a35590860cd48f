"""QLInfoWGAN-GP: the GAN half of latent quantisation. Hsu, Dorrell, Whittington, Wu and Finn,
"Disentanglement via Latent Quantization", NeurIPS 2023 (the authors' JAX code:
kylehkhsu/latent_quantization, ``disentangle/models/info_gan.py`` and ``quantized_info_gan.py``).
Written from the paper, the method note and a reading of that code; none of it is copied.

The model
    * a generator G: z (D,) -> pixel logits, images x = sigmoid(G(z));
    * one encoder network E with two heads on shared features: a critic value V(x) (a scalar)
      and a latent estimate z_c(x) (D,), which snaps per dimension to its scalar codebook
      v_d (``LatentQuantizer``): z_q = nearest value, z_hat = z_c + sg(z_q - z_c)
      (straight-through);
    * the prior: each dimension uniform over its codebook's values, z_fake = v_{d, k_d}.

The losses (means over the batch; ||.||^2 of latents is a mean over the D dimensions, the
authors' ``latent_loss``), with x_fake = sigmoid(G(z_fake)), z_fake from the prior, and
x_int = eps x_real + (1 - eps) x_fake, eps ~ U(0, 1) per image:

    L_E = l_value (V(x_fake) - V(x_real)) + l_gradient (||grad_x V(x_int)||_2 - 1)^2
          + l_latent ||z_hat(x_fake) - z_fake||^2 + w_quant Q + w_commit C
    L_G = l_value (-V(x_fake)) + l_latent ||z_hat(x_fake) - z_fake||^2 + w_quant Q + w_commit C
    Q = ||sg(z_c(x_fake)) - z_q(x_fake)||^2,   C = ||z_c(x_fake) - sg(z_q(x_fake))||^2

(Wasserstein critic with gradient penalty, Gulrajani et al. 2017; the InfoGAN latent
regression, Chen et al. 2016, on quantised latents). Defaults are the authors': l_value 1,
l_gradient 10, l_latent 200, w_quant = w_commit = 0.01, 10 values per codebook.

Training (two optimisers, each AdamW with betas (0, 0.9), decoupled weight decay on weight
matrices and kernels, none on biases or codebooks, element-wise gradient clipping on the
decayed weights only, as the authors' ``optax.chain(clip, adamw)`` / plain ``adam`` split):
    * ``encoder`` (critic and latent heads, one network) minimises L_E on every step;
    * ``generator`` (G and the codebooks) minimises L_G every ``generator_period``-th step,
      after the critic's update of that step, on its own fresh prior batch. As in the authors'
      loop it runs when (step + 1) % generator_period == 0, so the critic gets
      ``generator_period`` updates before the generator's first.
    The paper trains with lr 2e-4 and weight decay 1e-4 (their sweep: 1e-3); those live in the
    generic TrainConfig (``lr``, ``weight_decay``), and ``train_defaults`` makes
    ``latentatlas train qlinfogan`` start from 2e-4 and 1e-3.

How the codebooks learn (as in the authors' code, where each optimiser applies only the
gradients of its own parameters): the codebooks belong to the generator optimiser, so they
move only in the generator step, through
    1. the quantisation term Q (pulls the nearest value towards the encoder's z_c(x_fake)), and
    2. z_fake itself: a prior sample *is* a codebook value (a differentiable gather), so the
       gradients of -V(G(z_fake)) and of l_latent ||z_hat - z_fake||^2 reach the sampled
       values (the latter pulls them towards what the encoder reads back).
In the critic step the prior batch is drawn without gradients, and Q's only gradient is to the
codebooks, which the encoder optimiser does not own: there Q moves nothing (it is in L_E, and
logged, because the method note and the authors' code put it there). The commitment term C
moves the encoder in the critic step and, through x_fake, the generator in the generator step.

Our choices (not fixed by the paper or the authors' code):
    * the two heads are the two slices of the shared ``ConvEncoder``'s last linear layer
      (column 0: V(x), columns 1..D: z_c(x)): exactly two linear heads on the same hidden
      features, as the authors' critic head and latent head, with the project's networks; the
      generator is the shared ``ConvDecoder`` (the authors use a style-based generator);
    * no data-dependent codebook initialisation (QLAE refits its codebooks to quantiles of the
      encoder's outputs during a warm-up). Here the targets come from the codebooks: the prior
      draws linspace(-0.5, 0.5) values, the generator sees distinct inputs from step 0, and the
      latent loss regresses z_c directly onto them, so QLAE's plateau mechanism (every image
      snapping to one code) does not arise; refitting to the untrained encoder's tiny outputs
      would instead collapse the prior's spread. The codebooks start at linspace(-0.5, 0.5).
    * ``noise_dim`` > 0 (off by default, as in the authors' code) feeds N(0, I) noise beside z
      to the generator during training; ``decode`` uses zeros (the noise's mean), so decoding
      is deterministic; the latent head predicts z only;
    * logging: every step logs the critic step's terms (``value_loss`` = mean V(x_fake) -
      V(x_real), the term the critic minimises: its negative is the critic's estimate of the
      Wasserstein-1 distance; ``gradient_penalty``; ``latent_loss``; ``quantize``; ``commit``;
      ``encoder_loss``) and ``generator_loss``: L_G measured on the critic step's prior batch
      before the critic's update (every term of L_G is already computed there, so it costs
      nothing). The generator step's own loss is not returned: a key present on only some steps
      would be averaged over all steps by the loop, and a value carried over between steps
      would be hidden trainer state a resumed run lacks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from latentatlas.families.base import Encoding, LatentModel, QuantizedLatents, Trainer, adamw_groups
from latentatlas.families.configs import QLInfoGANConfig, TrainConfig
from latentatlas.nets.blocks import ConvDecoder, ConvEncoder
from latentatlas.nets.quantizer import LatentQuantizer


class QLInfoGAN(LatentModel, QuantizedLatents):
    """Quantised-latent InfoWGAN-GP. ``encode`` = the latent head's prediction snapped to the
    codebooks; ``decode`` = the generator; the prior is uniform over each codebook (the generator
    step trains the codebooks through ``sample_prior``)."""

    config: QLInfoGANConfig

    def __init__(self, config: QLInfoGANConfig) -> None:
        super().__init__(config)
        # One network, two heads: output column 0 is the critic value, columns 1.. the latent.
        self.encoder = ConvEncoder(config.net, 1 + config.latent_dim)
        self.generator = ConvDecoder(config.net, config.latent_dim + config.noise_dim)
        self.quantizer = LatentQuantizer(config.latent_dim, config.codebook_size)

    # -- the two heads ---------------------------------------------------------------------
    def critic_and_latent(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Critic values (N,) and pre-quantised latents z_c (N, D)."""
        out = self.encoder(images)
        return out[:, 0], out[:, 1:]

    def critic(self, images: torch.Tensor) -> torch.Tensor:
        """The critic value V(x), (N,)."""
        return self.encoder(images)[:, 0]

    # -- the generator -----------------------------------------------------------------------
    def generate_logits(self, latents: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """G(z, noise); noise (N, noise_dim) defaults to zeros (no noise when noise_dim is 0)."""
        if self.config.noise_dim:
            if noise is None:
                noise = latents.new_zeros(latents.shape[0], self.config.noise_dim)
            latents = torch.cat([latents, noise], dim=1)
        return self.generator(latents)

    def training_noise(self, n: int) -> torch.Tensor | None:
        """The generator's extra noise input for training, or None when noise_dim is 0."""
        return torch.randn(n, self.config.noise_dim, device=self.device) if self.config.noise_dim else None

    # -- the LatentModel interface -------------------------------------------------------------
    def prequantised(self, images: torch.Tensor) -> torch.Tensor:
        return self.critic_and_latent(images)[1]

    def encode(self, images: torch.Tensor) -> Encoding:
        return self.quantize(self.prequantised(images))

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        return self.generate_logits(latents)

    def make_trainer(self, config: TrainConfig) -> QLInfoGANTrainer:
        return QLInfoGANTrainer(self, config)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP's penalty mean_i (||grad_x V(x_int_i)||_2 - 1)^2 at x_int = eps real + (1 - eps) fake,
    eps (N,) one value per image; differentiable (create_graph) for the critic's update."""
    eps = eps.reshape(-1, *([1] * (real.ndim - 1)))
    interpolated = eps * real.detach() + (1 - eps) * fake.detach()
    interpolated.requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(interpolated).sum(), interpolated, create_graph=True)
    norms: torch.Tensor = gradient.flatten(1).norm(dim=1)
    return (norms - 1).square().mean()


class QLInfoGANTrainer(Trainer):
    """The critic/encoder update every step, the generator (and codebooks) every
    ``generator_period``-th step; see the module docstring."""

    def __init__(self, model: QLInfoGAN, config: TrainConfig) -> None:
        self.model, self.family, self.clip = model, model.config, config.grad_clip
        named = list(model.named_parameters())
        parts = {
            "encoder": [(n, p) for n, p in named if n.startswith("encoder.")],
            "generator": [(n, p) for n, p in named if n.startswith(("generator.", "quantizer."))],
        }
        if sum(len(v) for v in parts.values()) != len(named):
            raise TypeError("QLInfoGAN: every parameter must belong to the encoder or the generator optimiser")
        betas = (self.family.beta1, self.family.beta2)
        self.optimizers = {
            name: torch.optim.AdamW(adamw_groups(model, params, config.weight_decay), lr=config.lr, betas=betas)
            for name, params in parts.items()
        }
        self.params = {name: [p for _, p in params] for name, params in parts.items()}
        self.clipped = {name: [p for n, p in params if model.decays(n, p)] for name, params in parts.items()}

    def _update(self, name: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self.params[name])  # only this optimiser's parameters get gradients
        torch.nn.utils.clip_grad_value_(self.clipped[name], self.clip)
        optimizer.step()

    def _fake_terms(self, z_fake: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Critic values on x_fake and the latent, quantisation and commitment losses."""
        model = self.model
        value, continuous = model.critic_and_latent(fake)
        quantized = model.quantizer.lookup(model.quantizer.codes(continuous))
        z_hat = continuous + (quantized - continuous).detach()
        latent = (z_hat - z_fake).square().mean()
        quantize, commit = model.quantizer.losses(continuous, quantized)
        return value, latent, quantize, commit

    def _generator_objective(
        self, value_fake: torch.Tensor, latent: torch.Tensor, quantize: torch.Tensor, commit: torch.Tensor
    ) -> torch.Tensor:
        f = self.family
        return (
            f.lambda_value * -value_fake.mean()
            + f.lambda_latent * latent
            + f.quantize_weight * quantize
            + f.commit_weight * commit
        )

    def step(self, batch: Callable[[], torch.Tensor], step: int) -> dict[str, float]:
        model, f = self.model, self.family
        real = batch()
        n = real.shape[0]

        # The critic / encoder update.
        with torch.no_grad():
            z_fake = model.sample_prior(n)
            fake = torch.sigmoid(model.generate_logits(z_fake, model.training_noise(n)))
        eps = torch.rand(n, device=real.device)
        value_real = model.critic(real)
        value_fake, latent, quantize, commit = self._fake_terms(z_fake, fake)
        value_loss = (value_fake - value_real).mean()
        penalty = gradient_penalty(model.critic, real, fake, eps)
        encoder_loss = (
            f.lambda_value * value_loss
            + f.lambda_gradient * penalty
            + f.lambda_latent * latent
            + f.quantize_weight * quantize
            + f.commit_weight * commit
        )
        with torch.no_grad():  # L_G at the current parameters on this prior batch (logged only)
            generator_loss = self._generator_objective(value_fake, latent, quantize, commit)
        self._update("encoder", encoder_loss)
        logged = {
            "encoder_loss": encoder_loss.item(),
            "value_loss": value_loss.item(),
            "gradient_penalty": penalty.item(),
            "latent_loss": latent.item(),
            "quantize": quantize.item(),
            "commit": commit.item(),
            "generator_loss": generator_loss.item(),
        }

        # The generator (and codebook) update, every generator_period-th step.
        if (step + 1) % f.generator_period == 0:
            z_fake = model.sample_prior(n)  # with gradients to the codebooks
            fake = torch.sigmoid(model.generate_logits(z_fake, model.training_noise(n)))
            self._update("generator", self._generator_objective(*self._fake_terms(z_fake, fake)))
        return logged
