"""What training writes into a new model's card beyond its run: held-out quality and latent
statistics for every model, the ``flow`` section for models with ordered latents, and the
card's pictures, all chosen by the model's declared capabilities."""

from __future__ import annotations

import torch
from PIL import Image

from latentatlas.data.base import ImageDataset
from latentatlas.evaluation.flow import TRAVERSALS_FILE, evaluate_flow
from latentatlas.evaluation.quality import evaluate_reconstruction, reconstruction_sheet, samples_sheet
from latentatlas.families.base import LatentModel

RECONSTRUCTIONS_FILE, SAMPLES_FILE = "reconstructions.png", "samples.png"


def training_card(
    model: LatentModel, dataset: ImageDataset, device: torch.device, card: dict, seed: int = 0
) -> tuple[dict, dict[str, Image.Image]]:
    """``card`` with ``heldout`` and ``latent_stats`` (and ``flow`` for ordered latents) added,
    and the pictures to save beside it by file name."""
    evaluation = evaluate_reconstruction(model, dataset, device)
    card = {
        **card,
        "heldout": {k: v for k, v in evaluation.items() if k != "latent_stats"},
        "latent_stats": evaluation["latent_stats"],
    }
    pictures = {RECONSTRUCTIONS_FILE: reconstruction_sheet(model, dataset, device)} if model.capabilities.decode else {}
    if model.capabilities.sample:
        pictures[SAMPLES_FILE] = samples_sheet(model, seed)
    if model.capabilities.ordered:
        card["flow"], pictures[TRAVERSALS_FILE] = evaluate_flow(
            model, dataset, device, curves=card.get("curves"), seed=seed
        )
    return card, pictures
