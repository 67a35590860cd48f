"""What every model family's network provides: a model with the mixins of its declared
capabilities, and a training step that owns its optimisers.

A *family* (QLAE, AE, beta-VAE, beta-TCVAE, EOFlow, St-RKM, QLInfoWGAN-GP, ...) is

- a :class:`~latentatlas.families.configs.FamilyConfig` subclass in :mod:`latentatlas.families.configs`
  holding its own options (``kind`` is its name) and declaring its capabilities (no torch there),
- a :class:`LatentModel` subclass in its own module, with the methods of each declared
  capability's mixin (:class:`DiscreteCodes`, :class:`GaussianPosterior`,
  :class:`OrderedLatents`, :class:`ExactLikelihood`, :class:`PriorSampling`), and
- a :class:`Trainer` (the default, :class:`GradientTrainer`, minimises ``model.loss`` with one
  AdamW optimiser; a family overrides :meth:`LatentModel.make_trainer` for several optimisers,
  alternating updates or a manifold optimiser),

and one :class:`~latentatlas.families.Family` line in the registry. Training, storage, evaluation
and the server read the declared capabilities, never the family's name.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from latentatlas.families.configs import WEIGHTS_FILE, Capabilities, FamilyConfig, TrainConfig
from latentatlas.nets.quantizer import LatentQuantizer


@dataclass(frozen=True)
class OnnxGraph:
    """An ONNX graph a model runs as it is (an imported one): its file, the input fed and the
    output read, and how its images are laid out (``nchw`` or ``nhwc``) and scaled (``01``:
    [0, 1], ``pm1``: [-1, 1])."""

    path: Path
    input: str
    output: str
    layout: str = "nchw"
    pixel_range: str = "01"


@dataclass
class Encoding:
    """What ``encode`` returns: the latent the decoder consumes, posterior scales (``posterior``
    capability) and discrete code indices (``codes`` capability)."""

    latent: torch.Tensor
    scale: torch.Tensor | None = None
    codes: torch.Tensor | None = None


class LatentModel(nn.Module, ABC):
    """A model with a latent space worth exploring: ``encode(images) -> Encoding`` and
    ``decode(latents) -> images in [0, 1]``, plus the mixins of its declared capabilities."""

    config: FamilyConfig
    capabilities: Capabilities
    """What this model can do: its config's declared capabilities (a model held by a Python
    session without a decoder narrows them)."""

    training_only: ClassVar[tuple[str, ...]] = ()
    """State-dict key prefixes of parts only training uses (a contrastive family's projector,
    predictor and target network): a shipped folder leaves them out
    (:func:`~latentatlas.store.folders.ship_float16`) and :meth:`from_folder` then keeps them as
    initialised; everything the model encodes or decodes with is always stored."""

    def __init__(self, config: FamilyConfig) -> None:
        super().__init__()
        self.config = config
        self.capabilities = config.declared_capabilities()

    @classmethod
    def from_folder(cls, config: FamilyConfig, folder: Path) -> LatentModel:
        """The model stored in ``folder``: built from ``config``, its weights read from
        ``weights.safetensors`` (strict, except that the ``training_only`` parts may be absent: they
        stay as initialised). A family stored otherwise (imported graphs) overrides this."""
        model = cls(config)
        stored = load_file(str(Path(folder) / WEIGHTS_FILE))
        initial = {key: value for key, value in model.state_dict().items() if key.startswith(cls.training_only)}
        model.load_state_dict(initial | stored, strict=True)
        return model

    def onnx_graph(self, part: str) -> OnnxGraph | None:
        """The model's own ONNX graph for ``part`` ("decoder" or "encoder"), handed out for
        decoding in the browser (in the browser's convention) instead of an export from torch;
        None: export it from torch."""
        return None

    @property
    def device(self) -> torch.device:
        """Where the model's tensors live (its first parameter or buffer; the CPU when it has
        none, as a model that runs ONNX graphs)."""
        tensor = next(itertools.chain(self.parameters(), self.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    @abstractmethod
    def encode(self, images: torch.Tensor) -> Encoding: ...

    @abstractmethod
    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (N, D) -> pixel logits (N, C, S, S)."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(latents))

    # -- training ------------------------------------------------------------------------------
    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The objective :class:`GradientTrainer` minimises: (total, logged parts). Families
        with their own trainer need not define it."""
        raise TypeError(f"{type(self).__name__} trains with its own trainer, not a single loss")

    def decays(self, name: str, parameter: nn.Parameter) -> bool:
        """Whether AdamW's weight decay applies to a parameter: weight matrices and kernels only,
        never biases or latent codebooks (QLAE's "strong weight decay on the weights")."""
        codebooks = {id(module.values) for module in self.modules() if isinstance(module, LatentQuantizer)}
        return parameter.ndim >= 2 and id(parameter) not in codebooks

    def make_trainer(self, config: TrainConfig) -> Trainer:
        """This family's training step and optimisers (default: one AdamW on ``loss``)."""
        return GradientTrainer(self, config)

    @property
    def init_samples(self) -> int:
        """Training images :meth:`initialize` wants before the first step (0: none)."""
        return 0

    def initialize(self, images: torch.Tensor) -> None:
        """Data-dependent initialisation from ``init_samples`` training images, called once
        before the first training step (default: nothing)."""

    def finalize(
        self, sample_images: Callable[[int], torch.Tensor], validation_images: Callable[[int], torch.Tensor]
    ) -> None:
        """Called once when training ends, before evaluation and saving, with two functions of n:
        one draws n training images, the other returns the first n validation images (held out,
        and never scored by the card's evaluations). Default: nothing."""


class DiscreteCodes(ABC):
    """``codes`` capability: every latent dimension snaps to a learned scalar codebook."""

    @abstractmethod
    def codebooks(self) -> torch.Tensor:
        """Per-dimension codebook values (D, n)."""

    @abstractmethod
    def prequantised(self, images: torch.Tensor) -> torch.Tensor:
        """The continuous latents z_c (N, D) that ``encode`` snaps to the codebooks (the zoo's
        pre-quantisation control scores them)."""


class GaussianPosterior(ABC):
    """``posterior`` capability: a diagonal Gaussian q(z|x)."""

    @abstractmethod
    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (N, D)."""


class OrderedLatents(ABC):
    """``ordered`` capability: latent 0 is the most important; top-C decoding."""

    @abstractmethod
    def truncate(self, latents: torch.Tensor, keep: int) -> torch.Tensor:
        """Keep the top ``keep`` latents, set the rest to the config's ``truncation_fill`` (their prior mode)."""

    @abstractmethod
    def explained_entropy(self) -> torch.Tensor:
        """Explained entropy per ordered latent (D,), in nats."""

    @abstractmethod
    def explained_entropy_se(self) -> torch.Tensor:
        """Standard error of each :meth:`explained_entropy` (D,), in nats."""


class ExactLikelihood(ABC):
    """``likelihood`` capability: exact log-likelihood of images."""

    @abstractmethod
    def bits_per_dim(self, images: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per image, in bits per pixel value (N,)."""


class PriorSampling(ABC):
    """``sample`` capability: latents from the model's prior (generation)."""

    @abstractmethod
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latents (n, D) from the prior, on the model's device."""


class SavedSamples(ABC):
    """Samples a model holds itself (saved latents): their latents are its ``retrieval`` index (no
    dataset image is encoded), and a neighbour shows the sample's saved image or its dataset row."""

    @abstractmethod
    def saved_latents(self) -> np.ndarray:
        """The samples' latents (N, D)."""

    @abstractmethod
    def saved_factors(self, rows: np.ndarray) -> np.ndarray:
        """The factor indices (n, K) of samples ``rows``."""

    @abstractmethod
    def saved_images(self, rows: np.ndarray) -> torch.Tensor | None:
        """The images (n, C, S, S) in [0, 1] of samples ``rows``; None when none were saved."""

    @abstractmethod
    def saved_dataset_indices(self, rows: np.ndarray) -> np.ndarray | None:
        """The dataset index of each of samples ``rows``; None when none were saved."""


class QuantizedLatents(DiscreteCodes, PriorSampling):
    """``codes`` and ``sample`` through the model's :class:`LatentQuantizer` ``quantizer``: the
    codebooks are its values, and the prior is uniform over each dimension's codebook
    (differentiable with respect to the codebooks)."""

    quantizer: LatentQuantizer  # its values are the weights' ``quantizer.values`` (the configs' ``codebook_weights``)

    def quantize(self, continuous: torch.Tensor) -> Encoding:
        """Pre-quantised latents z_c (N, D) -> the encoding of their nearest codebook values."""
        codes = self.quantizer.codes(continuous)
        return Encoding(self.quantizer.lookup(codes), codes=codes)

    def codebooks(self) -> torch.Tensor:
        return self.quantizer.values.detach()

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.quantizer.sample(n, generator)


CAPABILITY_MIXINS: dict[str, type] = {
    "codes": DiscreteCodes,
    "posterior": GaussianPosterior,
    "ordered": OrderedLatents,
    "likelihood": ExactLikelihood,
    "sample": PriorSampling,
}

CapabilityT = TypeVar("CapabilityT")


def capable(model: LatentModel, mixin: type[CapabilityT]) -> CapabilityT:
    """``model`` seen through one of its capabilities' mixins (``capable(model, OrderedLatents)
    .truncate(...)``), for callers that checked ``model.capabilities`` first; a TypeError when the
    family does not implement the mixin."""
    if not isinstance(model, mixin):
        raise TypeError(f"{type(model).__name__} does not implement {mixin.__name__}")
    return model


class Trainer(ABC):
    """A family's training step. It owns its optimisers (by name, all checkpointed with their
    state) and draws as many batches per step as it needs (e.g. several critic updates); the
    generic loop only drives steps, logging, checkpoints and cards."""

    optimizers: dict[str, torch.optim.Optimizer]

    @abstractmethod
    def step(self, batch: Callable[[], torch.Tensor], step: int) -> dict[str, float]:
        """One training step; ``batch()`` draws the next training batch. Returns logged values."""


def adamw_groups(
    model: LatentModel, parameters: list[tuple[str, nn.Parameter]], weight_decay: float
) -> list[dict[str, Any]]:
    """AdamW parameter groups: decay on what ``model.decays`` names, none on the rest."""
    decay = [p for name, p in parameters if model.decays(name, p)]
    no_decay = [p for name, p in parameters if not model.decays(name, p)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class GradientTrainer(Trainer):
    """One AdamW optimiser on ``model.loss`` over the parameters that take gradients (decoupled
    weight decay on weights only, QLAE's "strong weight decay"), element-wise gradient clipping."""

    def __init__(self, model: LatentModel, config: TrainConfig) -> None:
        self.model, self.clip = model, config.grad_clip
        trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.trainable = [p for _, p in trainable]
        self.optimizers = {
            "model": torch.optim.AdamW(adamw_groups(model, trainable, config.weight_decay), lr=config.lr)
        }

    def step(self, batch: Callable[[], torch.Tensor], step: int) -> dict[str, float]:
        loss, parts = self.model.loss(batch(), step)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(self.trainable, self.clip)
        optimizer.step()
        return parts


def reconstruction_loss(logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, mean over pixels and batch (images in [0, 1])."""
    return F.binary_cross_entropy_with_logits(logits, images)
