"""``traverse``, ``export-onnx``, ``export-site`` and ``ship``: files for papers, the static explorer and the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from latentatlas.cli.common import app, fail, require_model_folder


@app.command()
def traverse(
    folder: Annotated[Path, typer.Argument(help="Model folder (config.json, weights.safetensors, card.json).")],
    out: Annotated[
        Path,
        typer.Option(help="Output file: .png (the labelled grid) or .gif (one frame per step, every dim as a row)."),
    ],
    image: Annotated[
        Path | None, typer.Option(help="Traverse from this image's latent (PNG, JPEG, WebP or GIF).")
    ] = None,
    dataset_index: Annotated[int | None, typer.Option(min=0, help="Traverse from this dataset image's latent.")] = None,
    steps: Annotated[
        int, typer.Option(min=2, max=64, help="Steps per continuous dim (quantised dims step through their codebook).")
    ] = 11,
    dims: Annotated[
        str | None, typer.Option(help="Comma-separated dims (default: the first up to 16, as the app).")
    ] = None,
    scale: Annotated[
        int | None, typer.Option(min=1, max=16, help="Tile upscale (default: tiles of at least 64 pixels).")
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads.")] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Write a traversal for papers, exactly as the server's export does: from an image's latent,
    a dataset image's, or (neither given) the prior centre (latent mean, codes at the nearest code)."""
    from latentatlas.config import Settings
    from latentatlas.devices import resolve_device, set_threads
    from latentatlas.errors import InputError
    from latentatlas.serve.images import decode_upload
    from latentatlas.serve.services.core import ModelService
    from latentatlas.serve.services.exports import traverse_export
    from latentatlas.store.folders import load_model_folder

    fmt = out.suffix.lower().removeprefix(".")
    if fmt not in ("png", "gif"):
        raise typer.BadParameter(
            f"{out} must end in .png (the labelled grid) or .gif (one frame per step)", param_hint="--out"
        )
    if image is not None and dataset_index is not None:
        raise typer.BadParameter("give --image or --dataset-index, not both")
    try:
        dim_list = [int(part) for part in dims.split(",")] if dims else None
    except ValueError as error:
        raise typer.BadParameter(f"{dims!r} is not a comma-separated list of integers", param_hint="--dims") from error
    require_model_folder(folder)
    set_threads(threads)
    try:
        torch_device = resolve_device(device)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--device") from error
    settings = Settings()
    service = ModelService(load_model_folder(folder, torch_device), torch_device)
    net = service.config.net
    try:
        if image is not None:
            images = decode_upload(
                image.read_bytes(), net.channels, net.image_size, settings.max_image_pixels, settings.max_decoded_pixels
            )
            latent, source = service.encode(images).latent, str(image)
        elif dataset_index is not None:
            latent, source = (
                service.encode(service.dataset_images([dataset_index])).latent,
                f"dataset image {dataset_index}",
            )
        else:
            latent, source = service.prior_centre(), "the prior centre"
        content = traverse_export(service, latent, dim_list, steps, settings.max_decode_batch, fmt, scale)
    except (OSError, InputError) as error:
        fail(error)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    typer.echo(f"{out}: {service.id}'s traversal from {source} ({len(content):,} bytes)")


@app.command("export-onnx")
def export_onnx(
    folders: Annotated[list[Path], typer.Argument(help="Model folders to export.")],
    cache_dir: Annotated[Path | None, typer.Option(help="Export cache (default: settings' onnx_cache_dir).")] = None,
    force: Annotated[bool, typer.Option(help="Export again even when the cache has this model.")] = False,
) -> None:
    """Export models' decoders and encoders to ONNX (what the app decodes in the browser), each
    checked against torch; prints what was exported, how closely it agrees, and what could not be."""
    import torch

    from latentatlas.config import Settings
    from latentatlas.export.onnx import cache_folder
    from latentatlas.export.onnx import export_onnx as export

    torch.set_num_threads(2)
    cache = cache_dir or Settings().onnx_cache_dir
    failed = False
    for folder in folders:
        require_model_folder(folder)
        result = export(folder, cache, force=force)
        for name, part in result.parts.items():
            typer.echo(
                f"{folder.name}: {name} {part.bytes / 1e6:.1f} MB, max |onnx - torch| {part.max_abs_error:.1e} on {part.checked_on}"
            )
        for name, reason in result.unavailable.items():
            failed = True
            typer.echo(f"{folder.name}: {name} not exported: {reason}")
        typer.echo(f"{folder.name}: cached in {cache_folder(cache, result.digest)}")
    if failed:
        raise typer.Exit(1)


@app.command("export-site")
def export_site(
    folders: Annotated[list[Path], typer.Argument(help="Model folders to put in the site.")],
    out: Annotated[Path, typer.Option(help="Output folder (replaced): host it with any static file server.")],
    cache_dir: Annotated[
        Path | None, typer.Option(help="ONNX export cache (default: settings' onnx_cache_dir).")
    ] = None,
) -> None:
    """Write a static, server-free explorer of these models: upload, sliders and traversal run in
    the browser (ONNX Runtime Web); serve OUT with e.g. `python -m http.server -d OUT`."""
    import torch

    from latentatlas.config import Settings
    from latentatlas.serve.static_site import export_site as build

    torch.set_num_threads(2)
    settings = Settings()
    for folder in folders:
        require_model_folder(folder)
    report = build(folders, out, settings.frontend_dir, cache_dir or settings.onnx_cache_dir)
    for model_id, reason in report.skipped.items():
        typer.echo(f"{model_id}: left out, its decoder could not be exported ({reason})")
    if not report.models:
        typer.echo("error: no model could be exported", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(report.models)} model(s) in {out} ({report.bytes / 1e6:.1f} MB): {', '.join(report.models)}")
    typer.echo(f"serve it with: python -m http.server --directory {out}")


@app.command()
def ship(folders: Annotated[list[Path], typer.Argument(help="Trained model folders to ship.")]) -> None:
    """Rewrite trained models' weights as the float16 copy the repository ships (after `evaluate`
    and `probe-decoder`: their scores stay the float32 model's), leaving out the parts only training
    uses (a contrastive encoder's projector, predictor and target network); noted in the card's
    "shipped" section. Prints each folder's weights size."""
    from safetensors import SafetensorError

    from latentatlas.families.configs import WEIGHTS_FILE
    from latentatlas.store.folders import ship_float16

    for folder in folders:
        require_model_folder(folder)
        try:
            ship_float16(folder, "shipped")
        except (OSError, ValueError, SafetensorError) as error:
            fail(error)
        typer.echo(f"{folder}: {(folder / WEIGHTS_FILE).stat().st_size / 1e6:.2f} MB of float16 weights")
