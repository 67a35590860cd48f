"""``latentatlas import onnx`` and ``latentatlas import latents``: models from outside as model folders."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from latentatlas.cli.common import DatasetName, app, fail

import_app = typer.Typer(
    help="Bring in a model trained elsewhere, as a model folder the server and `evaluate` read like any other.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")


class LayoutName(str, Enum):
    nchw = "nchw"
    nhwc = "nhwc"


class RangeName(str, Enum):
    zero_one = "01"
    plus_minus_one = "pm1"


@import_app.command("onnx")
def import_onnx_command(
    encoder: Annotated[Path, typer.Option(help="Encoder graph: images -> latents (.onnx).")],
    out: Annotated[Path, typer.Option(help="New model folder (e.g. models/NAME); must not exist.")],
    decoder: Annotated[
        Path | None, typer.Option(help="Decoder graph: latents -> images (.onnx); without it the model cannot decode.")
    ] = None,
    dataset: Annotated[
        DatasetName, typer.Option(help="The data the graphs were trained on (its images validate them).")
    ] = DatasetName.dsprites,
    data_path: Annotated[Path | None, typer.Option(help="Image folder (with --dataset folder).")] = None,
    channels: Annotated[int, typer.Option(help="Image channels for an image folder (1 or 3).")] = 3,
    image_size: Annotated[int, typer.Option(help="Square image size for an image folder.")] = 64,
    latent_output: Annotated[
        str | None,
        typer.Option(help="The encoder output that is the latent (needed when it has several: a VAE's mean)."),
    ] = None,
    layout: Annotated[
        LayoutName, typer.Option(help="Image axes the graphs use: nchw (N, C, H, W) or nhwc (N, H, W, C).")
    ] = LayoutName.nchw,
    pixel_range: Annotated[
        RangeName, typer.Option("--range", help="Pixel values the graphs use: 01 ([0, 1]) or pm1 ([-1, 1]).")
    ] = RangeName.zero_one,
) -> None:
    """Import ONNX graphs (from torch.onnx.export, tf2onnx, jax2tf + tf2onnx) as a model folder.

    Defaults: the graphs take (N, 1, 64, 64) dSprites images in [0, 1], NCHW. Each graph file may be at
    most 512 MiB (MAX_GRAPH_BYTES). Everything is checked before anything is written: the graphs load,
    their shapes agree with each other and the dataset, and a round trip of held-out images is finite;
    the card records the held-out PSNR. Prints the card's summary as JSON."""
    from latentatlas.data.spec import DatasetSpec
    from latentatlas.imports import ModelImportError, import_onnx

    try:
        if dataset == DatasetName.folder and (data_path is None or not data_path.is_dir()):
            raise ModelImportError(
                f"--dataset folder needs --data-path pointing at a folder of images (got {data_path})"
            )
        spec = DatasetSpec(
            name=dataset.value, path=str(data_path) if data_path else None, channels=channels, image_size=image_size
        )
        card = import_onnx(encoder, decoder, spec, out, latent_output, layout.value, pixel_range.value)
    except (ModelImportError, ValueError) as error:
        fail(error)
    typer.echo(
        json.dumps(
            {
                "out": str(out),
                "latent_dim": len(card["latent_stats"]["mean"]),
                "heldout": card["heldout"],
                "seconds": card["imported"]["seconds"],
            }
        )
    )


@import_app.command("latents")
def import_latents_command(
    file: Annotated[
        Path,
        typer.Argument(
            help=".npz: z (N x D floats), y (N x K factor indices), optional factor_names, "
            "images (N x H x W[ x C]) or dataset + indices, train_rows."
        ),
    ],
    out: Annotated[Path, typer.Option(help="New model folder (e.g. models/NAME); must not exist.")],
    seed: Annotated[int, typer.Option(help="Seeds the metrics' randomness.")] = 0,
    jobs: Annotated[int, typer.Option(min=1, help="Processes for the metrics.")] = 1,
) -> None:
    """Import a run's saved latents as an encoder-only model folder with a metrics card.

    The file is read without pickles (allow_pickle=False). The model cannot decode; it encodes only by
    looking an image up among the saved images (when they were saved). Prints the card's metrics as JSON."""
    from latentatlas.imports import ModelImportError, import_latents

    try:
        card = import_latents(file, out, seed, jobs)
    except ModelImportError as error:
        fail(error)
    typer.echo(
        json.dumps({"out": str(out), "samples": card["metrics"]["samples"], "metrics": card["metrics"]["values"]})
    )
