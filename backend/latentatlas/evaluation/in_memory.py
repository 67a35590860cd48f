"""A Python session's encoder (and decoder) made a served model, in memory (``latentatlas.explore``).

The encoder is probed once on a batch of the dataset for the latent size and well-formed output
(:func:`~latentatlas.families.python_model.check_latents`), the decoder on those latents for the
dataset's image shape; then the model is measured on the dataset's held-out images (a fixed,
seeded sample: ``DatasetSpec.holdout`` images drawn with ``holdout_seed``) for the card the app
reads: per latent dimension the mean, population sd, min and max (the sliders' ranges) and, with a
decoder, the reconstruction PSNR, 10 log10(1 / MSE). Nothing is written: the card lives in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from latentatlas.data.base import ImageDataset
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.quality import evaluate_reconstruction
from latentatlas.families.configs import PythonConfig
from latentatlas.families.python_model import (
    PythonModel,
    TensorFunction,
    check_images,
    check_latents,
    function_name,
    session_device,
)
from latentatlas.nets.config import NetConfig
from latentatlas.store.folders import FolderConfig, LoadedModel

PROBE_IMAGES = 8
"""Dataset images the encoder is first tried on."""

BATCH = 250
"""Held-out images encoded at once for the statistics."""


def _call(function: TensorFunction, inputs: torch.Tensor, part: str, what: str) -> object:
    """``function(inputs)``; a failure becomes a ValueError naming the part and its input's shape."""
    try:
        return function(inputs)
    except Exception as error:  # whatever the session's code raises is reported by name
        raise ValueError(
            f"the {part} failed on {what} of shape {tuple(inputs.shape)}: {type(error).__name__}: {error}"
        ) from error


def held_out_statistics(model: PythonModel, dataset: ImageDataset, device: torch.device) -> dict[str, Any]:
    """The card's ``latent_stats`` (mean, sd, min, max per dim) and ``heldout`` (the images
    measured; their reconstruction PSNR with a decoder) over the dataset's held-out images, as
    training measures them (:func:`~latentatlas.evaluation.quality.evaluate_reconstruction`)."""
    measured = evaluate_reconstruction(model, dataset, device, BATCH)
    return {"latent_stats": measured.pop("latent_stats"), "heldout": measured}


@torch.inference_mode()
def in_memory_model(
    encoder: TensorFunction, decoder: TensorFunction | None, spec: DatasetSpec, folder: Path
) -> LoadedModel:
    """The session's model, probed and measured on ``spec``'s dataset, as the server serves a
    loaded one; ``folder`` is where the server may write what it makes (metrics runs): a
    temporary folder. A ValueError says what is wrong with an encoder or decoder."""
    dataset = load_dataset(spec)
    device = session_device(encoder, decoder)
    probe = dataset.images(dataset.holdout_indices[:PROBE_IMAGES], device)
    images = f"{dataset.name} images in [0, 1]"
    latents = check_latents(_call(encoder, probe, "encoder", images), len(probe))
    net = NetConfig(image_size=dataset.image_size, channels=dataset.channels)
    if decoder is not None:
        check_images(_call(decoder, latents, "decoder", "the encoder's latents"), (len(probe), *probe.shape[1:]))
    config = PythonConfig(
        latent_dim=latents.shape[1],
        net=net,
        encoder=function_name(encoder),
        decoder=function_name(decoder) if decoder is not None else None,
    )
    model = PythonModel(config, encoder, decoder).eval()
    card = {
        "source": f"held in memory by a Python session (latentatlas.explore): encoder {config.encoder}, "
        f"decoder {config.decoder or 'none'}",
        "dataset": dataset.describe(),
        **held_out_statistics(model, dataset, device),
    }
    return LoadedModel(folder, FolderConfig(model=config, dataset=spec), model, card)
