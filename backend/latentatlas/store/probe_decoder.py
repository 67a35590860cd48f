"""A probe decoder stored beside its model: ``probe_decoder.safetensors`` and the card's
``probe_decoder`` section (its held-out PSNR and how it was trained); see
:mod:`latentatlas.nets.probe_decoder`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from latentatlas.nets.config import NetConfig
from latentatlas.nets.probe_decoder import ProbeDecoder
from latentatlas.store.folders import CARD_FILE, PROBE_FILE, model_state, write_json, write_safetensors

CARD_SECTION = "probe_decoder"


def probe_label(section: dict[str, Any]) -> str:
    """How a probe decoder is labelled wherever its images appear (API and UI)."""
    return f"probe decoder, held-out PSNR {section['heldout_psnr_db']:.1f} dB: not the model's own"


def save_probe_decoder(folder: Path, probe: ProbeDecoder, section: dict[str, Any]) -> None:
    """Write the probe's weights, then its card section (each atomically; the card last, so a
    reader that sees the section finds the weights)."""
    folder = Path(folder)
    write_safetensors(folder / PROBE_FILE, model_state(probe), metadata={"what": "probe decoder, not the model's own"})
    card_path = folder / CARD_FILE
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    card[CARD_SECTION] = {**section, "label": probe_label(section), "file": PROBE_FILE}
    write_json(card_path, card)


def load_probe_decoder(
    folder: Path, net: NetConfig, latent_dim: int, device: torch.device | str = "cpu"
) -> ProbeDecoder | None:
    """The probe decoder stored in ``folder`` (None when there is none); ValueError/OSError when corrupt."""
    path = Path(folder) / PROBE_FILE
    if not path.exists():
        return None
    probe = ProbeDecoder(net, latent_dim)
    probe.load_state_dict(load_file(str(path)), strict=True)
    return probe.to(device).eval()
