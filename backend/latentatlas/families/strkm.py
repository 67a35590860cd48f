"""St-RKM: the Stiefel restricted kernel machine of Pandey, Fanuel, Schreurs and Suykens,
"Disentangled Representation Learning and Generation with Manifold Optimization", Neural
Computation 34(10), 2022 (arXiv 2006.07046). Written from the paper and the method note; the
authors' PyTorch code (MrPandey01/Stiefel_Restricted_Kernel_Machine) was read for its
defaults, not copied.

Model. An encoder phi = ConvEncoder(net, F) maps an image to features in R^F (F =
``feature_dim``); U in R^{F x m} (m = ``latent_dim``) lies on the Stiefel manifold, U^T U = I_m
(the authors store U^T). On a training batch of n images the features are centred over the
batch, Phi_c = Phi - mean_batch(Phi) (n x F), and

    latent          h   = U^T phi_c                    (the rows of Phi_c U)
    decoder input       = U h = U U^T phi_c            (the projection P_U phi_c, in R^F)
    decoder         psi = ConvDecoder(net, F),  x_tilde = sigmoid(psi(U h))

Loss (the authors' form, per batch of n):

    f1 = trace(C - U U^T C) / n,   C = Phi_c^T Phi_c
       = (||Phi_c||_F^2 - ||Phi_c U||_F^2) / n       (the PCA reconstruction error of the features)
    f2 = c_acc / 2 * ||x - x_tilde||^2 / n           (a per-pixel error summed over pixels,
                                                      averaged over the batch; see pixel_loss)
    total = f1 + f2

``pixel_loss`` is that per-pixel error. ``mse`` is the authors' form: squared error of the
sigmoid outputs (their decoder ends in a Sigmoid, with MSELoss(reduction="sum")). ``bce``, the
default, is the binary cross-entropy of the decoder's logits (the Bernoulli likelihood every
other family here uses, summed over pixels). Why not the authors' default: on procedural
dSprites (32x32, the shared networks, batch 64, seed 0) the ``mse`` model fell onto the
blank-image plateau within 100 steps and stayed there (held-out squared error exactly the
blank image's, 31.6, for 2,500 steps at lr 1e-3 and 800 steps at the authors' 2e-4): the first
steps push every logit far negative (almost every pixel is black), and there the squared error
of a sigmoid has no gradient (d/dz (sigmoid(z) - 1)^2 -> 0 as sigmoid(z) -> 0), so the sprite
pixels never come back. With ``bce`` the gradient is sigmoid(z) - x, which does not vanish
on a wrong pixel, and the same run left the plateau by step 100.

``recon_loss`` chooses the decoder input of f2: ``deterministic`` (the default) decodes
U U^T phi_c as above; ``noisyU`` decodes U (U^T phi_c + sigma eps), eps ~ N(0, I_m);
``splitloss`` is c_acc/2 * (||x - x_clean||^2 + ||x_clean - x_noisy||^2) / n with the clean and
the noisy decodes (the first term with ``pixel_loss``, the second always the squared distance
between the two decoded images, as the authors'). ``deterministic`` is the default: it is the
paper's St-RKM objective as written (the noisy variants are its stochastic relaxations) and the
authors' code default, it needs one decoder pass (``splitloss`` two), and it is reproducible
step for step; with the authors' sigma = 1e-3 the noise is tiny next to the latents' scale
anyway (their standard deviations were 0.01 to 10 in a short dSprites run).

c_acc defaults to 1, the authors' code default (``--c_accu 1``, also in their README's
commands). With the error summed over pixels, f2 already dominates f1 (hundreds at a 64x64
start, f1 of order 1 or less).

Optimisation (:class:`STRKMTrainer`): two optimisers stepped together on every batch, as the
paper and the authors' loop do (one backward of f1 + f2, then both steps): Adam on the encoder
and decoder (lr ``TrainConfig.lr``, no weight decay, as the authors; ``TrainConfig.weight_decay``
is not used), with element-wise gradient clipping, and geoopt's ``RiemannianAdam`` on U
(lr ``manifold_lr``, the authors' 1e-4). U is a ``geoopt.ManifoldParameter`` on
``geoopt.Stiefel()``, which is ``CanonicalStiefel``: the canonical metric, the Riemannian
gradient G - U G^T U, and as retraction the **Cayley transform**
U' = (I - A/2)^{-1} (I + A/2) U with the skew matrix A = V U^T - U V^T of the step V, computed
exactly by an F x F linear solve (the momentum is carried along by the same map). The paper's
Cayley ADAM (Li, Li and Todorovic, ICLR 2020) approximates the same Cayley transform by a few
fixed-point iterations; like it, geoopt keeps one second moment per matrix (the squared
canonical norm of the gradient), and the first moment is moved with the step. The Cayley map
keeps U^T U = I up to rounding; the optimiser re-projects U onto the manifold (polar factor)
every ``STABILIZE_EVERY`` steps against float32 drift. No manifold weight decay: ||U||_F^2 = m is constant on the Stiefel manifold, so geoopt's
decay term w * U projects to the zero tangent vector (the authors' 5e-4 has no effect on U).

Inference. Single images cannot be centred by their batch, so the model keeps a feature-mean
buffer mu: during training an exponential moving average of the batch means (so a
mid-training checkpoint encodes sensibly), and in :meth:`STRKM.finalize` the exact mean of the
features of ``FINALIZE_SAMPLES`` training images. ``encode(x) = U^T (phi(x) - mu)`` and
``decode_logits(h) = psi(U h)``: the decoder is trained on the *centred* projection, so the
mean is not added back (as in the authors' generation code, which decodes U h).

After training (:meth:`STRKM.finalize`, as the authors' ``final_compute``): U is recomputed
exactly as the top-m eigenvectors (in order of decreasing eigenvalue) of the centred feature
covariance over ``FINALIZE_SAMPLES`` training images, signs aligned with the trained U. The
decoder sees only U U^T phi_c, which depends on U's span, not its basis, so it stays valid.
Then a prior for generation is fitted to the training latents h: a Gaussian
(``prior_components`` = 1, as the authors' generation code) or a full-covariance Gaussian
mixture (scikit-learn, seeded from torch's RNG); it lives in buffers of fixed shapes and is
saved with the weights. ``sample_prior`` draws from it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latentatlas.families.base import Encoding, LatentModel, PriorSampling, Trainer
from latentatlas.families.configs import PixelLoss, STRKMConfig, TrainConfig
from latentatlas.nets.blocks import ConvDecoder, ConvEncoder


def _geoopt() -> ModuleType:
    """geoopt, imported when a St-RKM is built (not when the family is only listed: it pulls in
    scipy.optimize, most of a server's start-up otherwise)."""
    with warnings.catch_warnings():
        # geoopt 0.5.1 decorates helpers with torch.jit.script, which torch 2.13 deprecates (it still works).
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning)
        import geoopt
    module: ModuleType = geoopt
    return module


FINALIZE_SAMPLES = 10_000
"""Training images behind the exact U, the feature mean and the prior fitted after training."""
FINALIZE_CHUNK = 500
FEATURE_MEAN_MOMENTUM = 0.05
"""Weight of each training batch's feature mean in the running mean (before :meth:`STRKM.finalize`)."""
STABILIZE_EVERY = 10
"""RiemannianAdam re-projects U onto the Stiefel manifold every this many steps."""
PRIOR_JITTER = 1e-6
"""Added to the fitted covariances' diagonals (relative to their mean variance) for a stable Cholesky factor."""


def kpca_loss(centred: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """f1 = trace(C - U U^T C) / n with C = Phi_c^T Phi_c, computed as (||Phi_c||^2 - ||Phi_c U||^2) / n."""
    return (centred.square().sum() - (centred @ U).square().sum()) / centred.shape[0]


def squared_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared error summed over pixels, averaged over the batch."""
    return (a - b).square().sum() / a.shape[0]


def pixel_error(logits: torch.Tensor, images: torch.Tensor, kind: PixelLoss) -> torch.Tensor:
    """||x - x_tilde||^2 of f2, summed over pixels and averaged over the batch: binary
    cross-entropy of the logits (``bce``) or squared error of the sigmoid outputs (``mse``)."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, images, reduction="sum") / images.shape[0]
    return squared_error(torch.sigmoid(logits), images)


def top_eigenvectors(centred: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-``m`` eigenvectors (F, m) and eigenvalues (m,) of Phi_c^T Phi_c, largest first (float64)."""
    values, vectors = torch.linalg.eigh(centred.double().T @ centred.double())
    return vectors.flip(-1)[:, :m], values.flip(-1)[:m]


class STRKM(LatentModel, PriorSampling):
    """Stiefel restricted kernel machine autoencoder; ``encode`` returns h = U^T (phi(x) - mu)."""

    config: STRKMConfig
    feature_mean: torch.Tensor
    prior_weights: torch.Tensor
    prior_means: torch.Tensor
    prior_scale_tril: torch.Tensor

    def __init__(self, config: STRKMConfig) -> None:
        super().__init__(config)
        features, latents, components = config.feature_dim, config.latent_dim, config.prior_components
        self.encoder = ConvEncoder(config.net, features)
        self.decoder = ConvDecoder(config.net, features)
        geoopt = _geoopt()
        self.U = geoopt.ManifoldParameter(
            nn.init.orthogonal_(torch.empty(features, latents)), manifold=geoopt.Stiefel(canonical=True)
        )
        self.register_buffer("feature_mean", torch.zeros(features))
        # The generation prior: a Gaussian mixture (one component: a Gaussian); N(0, I) until finalize.
        self.register_buffer("prior_weights", torch.full((components,), 1.0 / components))
        self.register_buffer("prior_means", torch.zeros(components, latents))
        self.register_buffer("prior_scale_tril", torch.eye(latents).repeat(components, 1, 1))

    # -- encoding and decoding -----------------------------------------------------------------
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """phi(x) (N, F), uncentred."""
        return self.encoder(images)

    def encode(self, images: torch.Tensor) -> Encoding:
        return Encoding((self.features(images) - self.feature_mean) @ self.U)

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents @ self.U.T)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else torch.device("cpu")
        weights, means, scale_tril = (
            b.detach().to(device, torch.float32) for b in (self.prior_weights, self.prior_means, self.prior_scale_tril)
        )
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        latents = means[component] + (scale_tril[component] @ noise.unsqueeze(-1)).squeeze(-1)
        return latents.to(self.device)

    # -- training ------------------------------------------------------------------------------
    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """total = f1 + f2 on one batch (see the module docstring); in training mode it also
        moves the running feature mean towards this batch's."""
        features = self.features(images)
        batch_mean = features.mean(dim=0)
        centred = features - batch_mean
        if self.training:
            with torch.no_grad():
                self.feature_mean.lerp_(batch_mean.detach(), FEATURE_MEAN_MOMENTUM)
        U = self.U
        latents = centred @ U
        f1 = kpca_loss(centred, U)
        half_c, pixels = 0.5 * self.config.c_acc, self.config.pixel_loss
        variant = self.config.recon_loss
        if variant == "deterministic":
            f2 = half_c * pixel_error(self.decode_logits(latents), images, pixels)
        else:
            noisy = self.decode_logits(latents + self.config.noise_sigma * torch.randn_like(latents))
            if variant == "noisyU":
                f2 = half_c * pixel_error(noisy, images, pixels)
            else:  # splitloss: the clean reconstruction plus the distance between the two decodes
                clean = self.decode_logits(latents)
                f2 = half_c * (
                    pixel_error(clean, images, pixels) + squared_error(torch.sigmoid(clean), torch.sigmoid(noisy))
                )
        total = f1 + f2
        return total, {"loss": total.item(), "kpca": f1.item(), "recon": f2.item()}

    def orthogonality_error(self) -> float:
        """||U^T U - I||_F."""
        with torch.no_grad():
            U = self.U.detach()
            return float(torch.linalg.matrix_norm(U.T @ U - torch.eye(U.shape[1], device=U.device, dtype=U.dtype)))

    def make_trainer(self, config: TrainConfig) -> Trainer:
        return STRKMTrainer(self, config)

    @torch.no_grad()
    def finalize(
        self, sample_images: Callable[[int], torch.Tensor], validation_images: Callable[[int], torch.Tensor]
    ) -> None:
        """Exact U (top eigenvectors of the centred feature covariance), exact feature mean and
        the generation prior, all from ``FINALIZE_SAMPLES`` training images."""
        chunks, left = [], FINALIZE_SAMPLES
        while left > 0:
            size = min(FINALIZE_CHUNK, left)
            chunks.append(self.features(sample_images(size).to(self.device)).double())
            left -= size
        self.fit_subspace(torch.cat(chunks))

    @torch.no_grad()
    def fit_subspace(self, features: torch.Tensor) -> None:
        """Set the feature mean, U and the prior from uncentred training features (N, F)."""
        features = features.double()
        mean = features.mean(dim=0)
        centred = features - mean
        U, _ = top_eigenvectors(centred, self.config.latent_dim)
        # Eigenvectors are defined up to sign: keep each column's orientation from training.
        signs = torch.sign(torch.einsum("fm,fm->m", U, self.U.detach().double()))
        U = U * torch.where(signs == 0, torch.ones_like(signs), signs)
        self.U.copy_(U.to(self.U.dtype))
        self.feature_mean.copy_(mean.to(self.feature_mean.dtype))
        self.fit_prior(centred @ U)

    @torch.no_grad()
    def fit_prior(self, latents: torch.Tensor) -> None:
        """Fit the generation prior (a Gaussian, or a Gaussian mixture) to latents (N, m)."""
        latents = latents.detach().double().cpu()
        components, m = self.config.prior_components, self.config.latent_dim
        jitter = PRIOR_JITTER * max(latents.var(dim=0).mean().item(), 1e-12)
        if components == 1:
            means = latents.mean(dim=0, keepdim=True)
            covariances = torch.cov(latents.T).reshape(1, m, m)
            weights = torch.ones(1, dtype=torch.float64)
        else:
            from sklearn.mixture import GaussianMixture

            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
            mixture = GaussianMixture(components, covariance_type="full", random_state=seed).fit(latents.numpy())
            means = torch.from_numpy(mixture.means_)
            covariances = torch.from_numpy(np.asarray(mixture.covariances_))
            weights = torch.from_numpy(mixture.weights_)
        covariances = covariances + jitter * torch.eye(m, dtype=torch.float64)
        for buffer, value in (
            (self.prior_weights, weights / weights.sum()),
            (self.prior_means, means),
            (self.prior_scale_tril, torch.linalg.cholesky(covariances)),
        ):
            buffer.copy_(value.to(buffer.dtype))


class STRKMTrainer(Trainer):
    """One step: f1 + f2 on one batch, one backward, then Adam on the networks (element-wise
    clipped gradients) and Riemannian (Cayley) Adam on U, both every step as in the paper."""

    def __init__(self, model: STRKM, config: TrainConfig) -> None:
        geoopt = _geoopt()
        if not isinstance(model.U, geoopt.ManifoldParameter):
            raise TypeError(
                "St-RKM's U must be a geoopt.ManifoldParameter (was the model converted in a way that dropped it?)"
            )
        self.model, self.clip = model, config.grad_clip
        self.networks = [p for name, p in model.named_parameters() if name != "U"]
        self.optimizers = {
            "networks": torch.optim.Adam(self.networks, lr=config.lr),
            "stiefel": geoopt.optim.RiemannianAdam([model.U], lr=model.config.manifold_lr, stabilize=STABILIZE_EVERY),
        }

    def step(self, batch: Callable[[], torch.Tensor], step: int) -> dict[str, float]:
        loss, parts = self.model.loss(batch(), step)
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(self.networks, self.clip)
        for optimizer in self.optimizers.values():
            optimizer.step()
        return {**parts, "orthogonality": self.model.orthogonality_error()}


__all__ = ["STRKM", "STRKMTrainer", "kpca_loss", "top_eigenvectors"]
