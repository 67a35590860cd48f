"""``latentatlas probe-decoder MODEL --steps N``: a decoder trained on the frozen representation
of a model without one, written beside it (``probe_decoder.safetensors`` and the card's
``probe_decoder`` section), so that its latents can be rendered; labelled as a probe everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from latentatlas.cli.common import app, fail, require_model_folder


@app.command("probe-decoder")
def probe_decoder(
    folder: Annotated[
        Path, typer.Argument(help="Model folder of a model that encodes (typically one without a decoder).")
    ],
    steps: Annotated[int, typer.Option(min=1, help="Training steps of the probe decoder.")] = 2000,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per step.")] = 64,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam's learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seeds the training images, the batches and the weights.")] = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads.")] = 2,
) -> None:
    """Train a probe decoder on the model's frozen latents (the encoder is never updated) and score it
    on held-out images; prints the card section (held-out PSNR) as JSON. It is not the model's decoder:
    the API and the app label its images "probe decoder, held-out PSNR X dB: not the model's own"."""
    from latentatlas.devices import set_threads
    from latentatlas.store.folders import load_model_folder
    from latentatlas.store.probe_decoder import save_probe_decoder
    from latentatlas.train.probe_decoder import train_probe_decoder

    require_model_folder(folder)
    set_threads(threads)
    try:
        loaded = load_model_folder(folder)
        probe, section = train_probe_decoder(loaded, steps, batch_size, lr, seed)
    except (OSError, ValueError) as error:
        fail(error)
    save_probe_decoder(folder, probe, section)
    typer.echo(json.dumps(section, indent=2))
