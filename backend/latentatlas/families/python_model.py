"""Models a Python session holds in memory (``latentatlas.explore``): a researcher's encoder and,
optionally, decoder, plain callables or ``torch.nn.Module``s, run as they are.

The encoder maps images (N, C, S, S) in [0, 1] to latents (N, D); the decoder maps latents (N, D)
to images (N, C, S, S), clipped to [0, 1]. Every output is checked (a floating tensor of the
expected shape, finite), so a bad one is an :class:`~latentatlas.errors.InputError` naming what
is wrong, never a broken response. A model without a decoder declares ``decode`` false and its
decodes are an :class:`~latentatlas.errors.UnsupportedError`.

The family has no folder form (nothing is stored, nothing is unpickled; a folder claiming this
kind fails to load) and is never trained here: ``train`` is false, so ``latentatlas train`` does
not offer it.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable

import torch
from torch import nn

from latentatlas.errors import InputError, UnsupportedError
from latentatlas.families.base import Encoding, LatentModel
from latentatlas.families.configs import PythonConfig

TensorFunction = Callable[[torch.Tensor], torch.Tensor]
"""What the session passes: tensor in, tensor out (a function, a bound method or an nn.Module)."""


def function_name(function: object) -> str:
    """A callable's name as a researcher wrote it: a module's class, a method's class and name
    (``VAE.encode``), a function's name; else the callable object's class."""
    if isinstance(function, nn.Module):
        return type(function).__name__
    name = str(getattr(function, "__name__", type(function).__name__))
    return f"{type(function.__self__).__name__}.{name}" if inspect.ismethod(function) else name


def slug(name: str) -> str:
    """``name`` as a model id: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def owning_module(function: object) -> nn.Module | None:
    """The module behind a callable: itself, or the module a bound method belongs to."""
    if isinstance(function, nn.Module):
        return function
    owner = getattr(function, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def session_device(*functions: object) -> torch.device:
    """Where the modules behind ``functions`` live (the first parameter or buffer found; else the CPU)."""
    for module in filter(None, map(owning_module, functions)):
        tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
        if tensor is not None:
            return tensor.device
    return torch.device("cpu")


def _checked(output: object, part: str, expected: tuple[int | None, ...], shape_text: str) -> torch.Tensor:
    """``output`` as a float32 tensor if it is a finite floating tensor of ``expected`` shape
    (None: any size); else an InputError naming what is wrong."""
    if isinstance(output, (tuple, list)):
        raise InputError(
            f"the {part} returned a {type(output).__name__}; it must return one tensor {shape_text}"
            + (" (a VAE's encoder: return the posterior mean)" if part == "encoder" else "")
        )
    if not isinstance(output, torch.Tensor):
        raise InputError(f"the {part} returned a {type(output).__name__}; it must return a torch.Tensor {shape_text}")
    shape = tuple(output.shape)
    wrong = len(shape) != len(expected) or any(
        want is not None and got != want for got, want in zip(shape, expected, strict=True)
    )
    if wrong:
        raise InputError(f"the {part} returned a tensor of shape {shape} (rank {len(shape)}); expected {shape_text}")
    if not output.is_floating_point():
        raise InputError(f"the {part} returned a {output.dtype} tensor; expected floating-point values")
    bad = int((~torch.isfinite(output)).sum())
    if bad:
        raise InputError(f"the {part} returned {bad} non-finite value(s) (NaN or infinity) among {output.numel()}")
    return output.float()


def check_latents(output: object, images: int, latent_dim: int | None = None) -> torch.Tensor:
    """An encoder's output for ``images`` images: finite latents (N, D), D = ``latent_dim`` if given."""
    size = "D" if latent_dim is None else str(latent_dim)
    return _checked(output, "encoder", (images, latent_dim), f"(N, {size}) = ({images}, {size}) latents")


def check_images(output: object, shape: tuple[int, int, int, int]) -> torch.Tensor:
    """A decoder's output: finite images of ``shape`` (N, C, S, S), clipped to [0, 1]."""
    return _checked(output, "decoder", shape, f"images (N, C, H, W) = {shape}, the dataset's image shape").clamp(0, 1)


class PythonModel(LatentModel):
    """A session's encoder (and decoder) as a served model; the modules behind them are kept
    as submodules (``eval()`` reaches them) and stay on their own device."""

    config: PythonConfig

    def __init__(self, config: PythonConfig, encoder: TensorFunction, decoder: TensorFunction | None = None) -> None:
        super().__init__(config)
        self.encoder_function, self.decoder_function = encoder, decoder
        modules = (owning_module(encoder), owning_module(decoder))
        self.modules_used = nn.ModuleList(module for module in dict.fromkeys(modules) if module is not None)
        if decoder is None:  # this model's own capabilities: the family's, less the decoder
            self.capabilities = self.capabilities.model_copy(update={"decode": False})

    @property
    def device(self) -> torch.device:
        return session_device(self.encoder_function, self.decoder_function)

    def encode(self, images: torch.Tensor) -> Encoding:
        return Encoding(check_latents(self.encoder_function(images), len(images), self.config.latent_dim))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        if self.decoder_function is None:
            raise UnsupportedError(
                f"the model has no decoder ({self.config.encoder} was served without one; "
                "pass decoder= to latentatlas.explore): capabilities.decode is false"
            )
        net = self.config.net
        shape = (len(latents), net.channels, net.image_size, net.image_size)
        return check_images(self.decoder_function(latents), shape)

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        """The decoder gives images, not logits: their inverse sigmoid."""
        return torch.logit(self.decode(latents), eps=1e-6)
