"""Invertible building blocks for normalizing flows, with exact inverses and log-determinants.

Every block is a :class:`Flow`: ``forward(x) -> (y, logdet)`` with ``logdet`` the per-sample
log |det dy/dx| (shape (N,)), and ``inverse(y) -> x``. Blocks act on the feature axis (dim 1)
and broadcast over any trailing spatial axes, so the same modules serve vectors (N, D) and
images (N, C, H, W):

- :class:`ActNorm` -- per-feature affine map, initialised from the first batch (Glow).
- :class:`AffineCoupling` -- RealNVP/Glow coupling with soft-clamped scales and a
  zero-initialised conditioner output (each block starts as the identity).
- :class:`Permutation` -- a fixed random permutation of the features.
- :class:`InvertibleLinear` -- a learned dense linear map (Glow's invertible 1x1 conv).
- :class:`PrincipalRotation` -- a fixed rotation of vectors onto their principal axes,
  fitted once to data (log-det 0).
- :class:`Squeeze` -- space-to-depth, (C, H, W) -> (4C, H/2, W/2).
- :class:`Flatten` -- (C, H, W) -> C*H*W.
- :class:`Affine`, :class:`Logit` -- fixed element-wise pre-processing maps.
- :class:`FlowSequence` -- composition.

No dependency beyond torch; the structure follows the usual Glow/RealNVP recipe.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

import torch
from torch import nn


def _per_feature(param: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (C,) parameter shaped to broadcast against (N, C, *spatial)."""
    return param.view(1, -1, *([1] * (like.ndim - 2)))


def _spatial_size(x: torch.Tensor) -> int:
    return math.prod(x.shape[2:])


class Flow(nn.Module, ABC):
    """An invertible map: ``forward(x) -> (y, log|det dy/dx|)`` and ``inverse(y) -> x``."""

    if TYPE_CHECKING:  # nn.Module.__call__ runs forward (with hooks); torch types it as returning Any

        def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    @abstractmethod
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    @abstractmethod
    def inverse(self, y: torch.Tensor) -> torch.Tensor: ...


class FlowSequence(Flow):
    """The composition of flows, applied in order (inverse in reverse order); log-dets add."""

    def __init__(self, flows: Sequence[Flow]) -> None:
        super().__init__()
        self.flows = nn.ModuleList(flows)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for flow in self.flows:
            x, ld = flow(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for flow in reversed(self.flows):
            y = cast(Flow, flow).inverse(y)
        return y


class ActNorm(Flow):
    """y = (x + loc) * exp(log_scale), per feature; the first forward batch sets loc and scale
    so that y has zero mean and unit variance per feature (Kingma & Dhariwal 2018).

    ``initialized`` is a buffer, so a model loaded from its weights is never re-initialised.
    """

    initialized: torch.Tensor

    def __init__(self, features: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(features))
        self.log_scale = nn.Parameter(torch.zeros(features))
        self.register_buffer("initialized", torch.tensor(False))
        self.eps = eps

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)
        self.loc.copy_(-flat.mean(dim=1))
        self.log_scale.copy_(-torch.log(flat.std(dim=1, correction=0) + self.eps))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not bool(self.initialized):
            self._initialize(x)
        y = (x + _per_feature(self.loc, x)) * _per_feature(self.log_scale.exp(), x)
        logdet = self.log_scale.sum() * _spatial_size(x)
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * _per_feature(torch.exp(-self.log_scale), y) - _per_feature(self.loc, y)


class Permutation(Flow):
    """A fixed random permutation of the features (seeded, stored as buffers); log-det 0."""

    perm: torch.Tensor
    inverse_perm: torch.Tensor

    def __init__(self, features: int, seed: int = 0) -> None:
        super().__init__()
        perm = torch.randperm(features, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y[:, self.inverse_perm]


class InvertibleLinear(Flow):
    """y = W x on the feature axis with a dense learned W (Glow's invertible 1x1 convolution),
    initialised to a random rotation; log|det| = log|det W| per spatial position.

    Deliberately not LU-parameterised: with a fixed pivot a P L U factorisation cannot move
    between all the column orders and signs an orthogonalising objective may need, and in
    tests it stalled short of the PCA solution that the dense parameterisation reaches.
    The inverse uses ``torch.linalg.inv`` (not ``solve``), whose forward-mode derivative
    stays differentiable with respect to W, which EOFlow's Jacobian term needs.
    """

    def __init__(self, features: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(features, features, generator=generator, dtype=torch.float64))
        self.weight = nn.Parameter(q.float())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.einsum("ij,nj...->ni...", self.weight, x)
        return y, (torch.linalg.slogdet(self.weight)[1] * _spatial_size(x)).expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,nj...->ni...", torch.linalg.inv(self.weight), y)


class PrincipalRotation(Flow):
    """y = (x - mean) R on vectors (N, D), R orthogonal with the principal axes of the data as
    columns, largest variance first; log-det 0 (a rotation), inverse x = y R^T + mean.

    The identity until :meth:`fit` sets ``mean`` and R from a sample (the eigenvectors of its
    covariance, in float64); nothing here is trained. Behind an image flow whose couplings start
    as the identity, this makes the untrained model's top-C truncation exactly PCA's (Jolliffe
    2002) in the flow's feature space, which training then bends into a nonlinear ordering.

    Storage: a dense R is D^2 numbers (37.7 MB in float32 at D = 3,072), but an orthogonal
    matrix has only D(D-1)/2 degrees of freedom. R is kept as its Householder QR factors
    (Golub & Van Loan, Matrix Computations, 4th ed., 5.1-5.2): R = H_1 ... H_D diag(signs),
    H_k = I - tau_k v_k v_k^T with v_k = (0, ..., 0, 1, r_k) and tau_k = 2 / |v_k|^2, so every
    H_k is an exact reflection; the persistent buffers are the strictly-lower parts r_k, packed,
    in float16 (|r| <= 1), and the D signs. The dense ``rotation`` (float32) is rebuilt from
    them in float64 whenever they are fitted or loaded, so it is orthogonal to rounding whatever
    the float16 rounding of r did, and training uses exactly what is stored.
    """

    mean: torch.Tensor
    reflectors: torch.Tensor
    signs: torch.Tensor
    rotation: torch.Tensor

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("reflectors", torch.zeros(features * (features - 1) // 2, dtype=torch.float16))
        # With every r_k = 0 each H_k flips coordinate k, so signs of -1 make R the identity.
        self.register_buffer("signs", -torch.ones(features))
        self.register_buffer("rotation", torch.eye(features), persistent=False)

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> torch.Tensor:
        """Fit to a sample (N, D); returns the variances along the axes, descending."""
        x = x.double()
        mean = x.mean(dim=0)
        centred = x - mean
        variances, axes = torch.linalg.eigh(centred.T @ centred / max(1, x.shape[0] - 1))
        order = torch.argsort(variances, descending=True)
        self.mean.copy_(mean.float())
        self.set_rotation(axes[:, order])
        return variances[order].clamp_min(0).float()

    @torch.no_grad()
    def set_rotation(self, rotation: torch.Tensor) -> float:
        """Store an orthogonal (D, D) matrix as its float16 Householder factors and rebuild the
        dense rotation from them; returns the largest entry-wise change that storing made."""
        target = rotation.to(self.mean.device, torch.float64)
        factors, _ = torch.geqrf(target)
        rows, cols = self._lower()
        self.reflectors.copy_(factors[rows, cols].clamp(-1, 1).to(torch.float16))
        self.signs.fill_(1.0)
        product = self._householder_product()
        # R = P diag(signs): P^T R is diagonal +-1 up to the float16 rounding of the reflectors.
        self.signs.copy_(torch.sign(torch.einsum("ij,ij->j", product, target)).float())
        self.rotation.copy_((product * self.signs.double()).float())
        return float((self.rotation.double() - target).abs().max())

    def _lower(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows, cols = torch.tril_indices(self.features, self.features, -1, device=self.mean.device)
        return rows, cols

    def _householder_product(self) -> torch.Tensor:
        """H_1 ... H_D in float64 from the stored reflectors (LAPACK's orgqr via torch)."""
        rows, cols = self._lower()
        vectors = torch.eye(self.features, dtype=torch.float64, device=self.mean.device)
        vectors[rows, cols] = self.reflectors.double()
        tau = 2.0 / vectors.square().sum(dim=0)
        return torch.linalg.householder_product(vectors, tau)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        with torch.no_grad():
            self.rotation.copy_((self._householder_product() * self.signs.double()).float())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x - self.mean) @ self.rotation, x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y @ self.rotation.T + self.mean


class AffineCoupling(Flow):
    """Affine coupling (Dinh et al. 2017): split the features into (x1, x2) at ``features // 2``;
    y1 = x1, y2 = x2 * exp(s) + t with (s_raw, t) = conditioner(x1), s = clamp * tanh(s_raw / clamp).

    The soft clamp bounds every scale to (exp(-clamp), exp(clamp)), which keeps training
    and the inverse numerically stable. The conditioner maps (N, C1, ...) -> (N, 2 * C2, ...);
    its last layer should be zero-initialised (see :func:`mlp_conditioner`,
    :func:`conv_conditioner`) so the block starts as the identity.
    """

    def __init__(self, features: int, conditioner: Callable[[int, int], nn.Module], clamp: float = 2.0) -> None:
        super().__init__()
        if features < 2:
            raise ValueError("a coupling needs at least 2 features")
        self.split = features // 2
        self.conditioner = conditioner(self.split, 2 * (features - self.split))
        self.clamp = clamp

    def _scale_shift(self, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw, shift = self.conditioner(x1).chunk(2, dim=1)
        return self.clamp * torch.tanh(raw / self.clamp), shift

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = x[:, : self.split], x[:, self.split :]
        scale, shift = self._scale_shift(x1)
        y2 = x2 * scale.exp() + shift
        return torch.cat([x1, y2], dim=1), scale.flatten(1).sum(dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y1, y2 = y[:, : self.split], y[:, self.split :]
        scale, shift = self._scale_shift(y1)
        return torch.cat([y1, (y2 - shift) * torch.exp(-scale)], dim=1)


def _zero_last(module: nn.Sequential) -> nn.Sequential:
    for parameter in module[-1].parameters():  # its weight and bias
        nn.init.zeros_(parameter)
    return module


def mlp_conditioner(hidden: int) -> Callable[[int, int], nn.Module]:
    """A coupling conditioner for vectors: Linear-ReLU-Linear-ReLU-Linear(zero-initialised)."""

    def build(in_features: int, out_features: int) -> nn.Module:
        return _zero_last(
            nn.Sequential(
                nn.Linear(in_features, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, out_features),
            )
        )

    return build


def conv_conditioner(hidden: int) -> Callable[[int, int], nn.Module]:
    """A coupling conditioner for images: conv3x3-ReLU-conv1x1-ReLU-conv3x3(zero-initialised)."""

    def build(in_channels: int, out_channels: int) -> nn.Module:
        return _zero_last(
            nn.Sequential(
                nn.Conv2d(in_channels, hidden, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(hidden, hidden, 1),
                nn.ReLU(),
                nn.Conv2d(hidden, out_channels, 3, padding=1),
            )
        )

    return build


class Squeeze(Flow):
    """Invertible downsampling (space-to-depth): (N, C, H, W) -> (N, 4C, H/2, W/2); log-det 0."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze needs even height and width, got {h}x{w}")
        y = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(n)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        n, c4, h, w = y.shape
        c = c4 // 4
        return y.view(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)


class Flatten(Flow):
    """(N, *shape) -> (N, prod(shape)); log-det 0."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.reshape(x.shape[0], -1), x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y.reshape(y.shape[0], *self.shape)


class Affine(Flow):
    """Fixed element-wise y = (x - shift) * scale; log-det = (number of elements) * log|scale|."""

    def __init__(self, scale: float, shift: float = 0.0) -> None:
        super().__init__()
        if scale == 0:
            raise ValueError("scale must be non-zero")
        self.scale, self.shift = float(scale), float(shift)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x[0].numel() * math.log(abs(self.scale))
        return (x - self.shift) * self.scale, x.new_full((x.shape[0],), logdet)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y / self.scale + self.shift


class Logit(Flow):
    """y = logit(alpha + (1 - 2 alpha) x) for x in [0, 1] (RealNVP's pre-processing).

    log|dy/dx| = log(1 - 2 alpha) - log p - log(1 - p) per element, p = alpha + (1 - 2 alpha) x.
    """

    def __init__(self, alpha: float = 0.05) -> None:
        super().__init__()
        if not 0 <= alpha < 0.5:
            raise ValueError("alpha must be in [0, 0.5)")
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.alpha + (1 - 2 * self.alpha) * x
        y = torch.log(p) - torch.log1p(-p)
        logdet = (math.log(1 - 2 * self.alpha) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(dim=1)
        return y, logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha)


def vector_flow(features: int, blocks: int = 4, hidden: int = 64, clamp: float = 2.0, seed: int = 0) -> FlowSequence:
    """A flow on vectors (N, D): ``blocks`` x [ActNorm, InvertibleLinear, AffineCoupling(MLP)]."""
    layers: list[Flow] = []
    for b in range(blocks):
        layers += [
            ActNorm(features),
            InvertibleLinear(features, seed=seed + b),
            AffineCoupling(features, mlp_conditioner(hidden), clamp),
        ]
    return FlowSequence(layers)


def image_flow(
    channels: int, size: int, levels: int = 2, blocks: int = 4, hidden: int = 64, clamp: float = 2.0, seed: int = 0
) -> FlowSequence:
    """A single-scale Glow-style flow (N, C, S, S) -> (N, C*S*S): per level a Squeeze, then
    ``blocks`` x [ActNorm, Permutation, AffineCoupling(conv)]; a Flatten at the end.

    No multi-scale factoring-out: every dimension goes through every block, which the
    entropy ordering wants (it ranks all D latents against each other).
    """
    if size % (2**levels):
        raise ValueError(f"{size}x{size} images cannot be squeezed {levels} times")
    layers: list[Flow] = []
    c, s = channels, size
    for level in range(levels):
        layers.append(Squeeze())
        c, s = 4 * c, s // 2
        for b in range(blocks):
            layers += [
                ActNorm(c),
                Permutation(c, seed=seed + 1000 * level + b),
                AffineCoupling(c, conv_conditioner(hidden), clamp),
            ]
    layers.append(Flatten((c, s, s)))
    return FlowSequence(layers)


__all__ = [
    "ActNorm",
    "Affine",
    "AffineCoupling",
    "Flatten",
    "Flow",
    "FlowSequence",
    "InvertibleLinear",
    "Logit",
    "Permutation",
    "PrincipalRotation",
    "Squeeze",
    "conv_conditioner",
    "image_flow",
    "mlp_conditioner",
    "vector_flow",
]
