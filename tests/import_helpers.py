"""ONNX graphs for the import tests and benchmark, made as users make them (torch.onnx.export):
the shipped vae-dsprites as an encoder (image -> mu, logvar) and a decoder, and tiny linear
graphs over 64 x 64 dSprites images."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from latentatlas.store.folders import load_model_folder

VAE_FOLDER = Path(__file__).resolve().parents[1] / "models" / "vae-dsprites"
IMAGE_SHAPE = (1, 64, 64)


def export(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str,
    output_names: list[str],
    dynamic_batch: bool = True,
) -> Path:
    """``module`` as an ONNX graph at ``path`` (TorchScript exporter, opset 17, batch axis dynamic)."""
    axes = {name: {0: "n"} for name in [input_name, *output_names]} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (example,),
            str(path),
            input_names=[input_name],
            output_names=output_names,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return path


class PosteriorEncoder(torch.nn.Module):
    """A VAE's encoder as exported for import: image -> (mu, logvar)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.posterior(images)


class Decoder(torch.nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.model.decode(latents)


def export_vae(folder: Path, model_folder: Path = VAE_FOLDER) -> tuple[Path, Path]:
    """The model's encoder (outputs ``mu``, ``logvar``) and decoder (``latent`` -> ``image``) in ``folder``."""
    model = load_model_folder(model_folder).model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    encoder = export(
        PosteriorEncoder(model), torch.rand(2, *IMAGE_SHAPE), folder / "vae-encoder.onnx", "image", ["mu", "logvar"]
    )
    decoder = export(
        Decoder(model), torch.zeros(2, model.config.latent_dim), folder / "vae-decoder.onnx", "latent", ["image"]
    )
    return encoder, decoder


class TinyEncoder(torch.nn.Module):
    """Flatten + linear: images (N, *shape) -> latents (N, dim); ``outputs`` copies of it."""

    def __init__(self, dim: int, shape: tuple[int, ...] = IMAGE_SHAPE, outputs: int = 1, scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(int(torch.tensor(shape).prod()), dim)
        self.outputs, self.scale = outputs, scale

    def forward(self, images: torch.Tensor):
        latent = self.linear(images.flatten(1)) * self.scale
        return latent if self.outputs == 1 else tuple(latent + k for k in range(self.outputs))


class TinyDecoder(torch.nn.Module):
    """Linear + sigmoid: latents (N, dim) -> images (N, *shape) in [0, 1] (times ``scale``)."""

    def __init__(self, dim: int, shape: tuple[int, ...] = IMAGE_SHAPE, scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.linear = torch.nn.Linear(dim, int(torch.tensor(shape).prod()))
        self.shape, self.scale = shape, scale

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(latents)).reshape(-1, *self.shape) * self.scale


def tiny_pair(folder: Path, dim: int = 4, shape: tuple[int, ...] = IMAGE_SHAPE) -> tuple[Path, Path]:
    """A tiny encoder (``image`` -> ``latent``) and decoder (``latent`` -> ``image``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    encoder = export(TinyEncoder(dim, shape), torch.rand(2, *shape), folder / "encoder.onnx", "image", ["latent"])
    decoder = export(TinyDecoder(dim, shape), torch.zeros(2, dim), folder / "decoder.onnx", "latent", ["image"])
    return encoder, decoder
