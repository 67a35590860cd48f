"""The ``latentatlas`` command line: ``serve``, ``train``, ``evaluate``, ``metrics``, ``fragments``, ``ensemble`` and ``zoo``."""

from __future__ import annotations

import inspect
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Latent Atlas: train and explore disentangled representation models.", no_args_is_help=True)


class DatasetName(str, Enum):
    dsprites = "dsprites"
    shapes3d = "shapes3d"
    folder = "folder"


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to bind (default: settings' host).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default: settings' port).")] = None,
    models_dir: Annotated[Optional[Path], typer.Option(help="Folder of model folders to serve.")] = None,
) -> None:
    """Serve the models folder and the web app."""
    import uvicorn

    from latentatlas.config import Settings
    from latentatlas.serve.app import create_app

    overrides = {k: v for k, v in {"host": host, "port": port, "models_dir": models_dir}.items() if v is not None}
    settings = Settings(**overrides)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=1 << 20,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_seconds,
    )


train_app = typer.Typer(
    help="Train a model: `latentatlas train FAMILY --out DIR [options]`; `latentatlas train FAMILY --help` lists the family's own options.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


def _common_train_options(train_defaults: dict) -> list[inspect.Parameter]:
    """The options every family's train command shares: data, network geometry and the run."""
    option = inspect.Parameter.KEYWORD_ONLY
    spec = [
        ("out", Path, ..., "Output model folder (config.json, weights.safetensors, card.json)."),
        ("dataset", DatasetName, DatasetName.dsprites, "Training data."),
        ("data_path", Optional[Path], None, "Image folder (with --dataset folder)."),
        ("channels", int, 3, "Image channels for an image folder (1 or 3)."),
        ("image_size", int, 64, "Square image size (a power of two)."),
        ("latent_dim", Optional[int], None, "Latent size (default: twice the number of factors, 10 for folders; a flow's is its pixel count)."),
        ("widths", str, "32,64,64,128", "Conv widths, comma separated, one per stride-2 layer."),
        ("resume", bool, False, "Continue from OUT/checkpoint if present."),
    ]
    params = [inspect.Parameter(name, option, default=default, annotation=Annotated[kind, typer.Option(help=text)]) for name, kind, default, text in spec]
    from latentatlas.train import TrainConfig

    for name, field in TrainConfig.model_fields.items():
        params.append(_field_parameter(name, field, f"Run: {field.description}.", train_defaults.get(name, field.default)))
    return params


def _field_parameter(name: str, field, help_text: str, default=None) -> inspect.Parameter:
    """A typer option for one pydantic field of a scalar type, optional or not (Literal fields
    become choices)."""
    from types import NoneType, UnionType
    from typing import Literal, Union, get_args, get_origin

    annotation, default = field.annotation, field.default if default is None else default
    if get_origin(annotation) in (Union, UnionType):  # X | None: the option is X, left unset by default
        (inner,) = [arg for arg in get_args(annotation) if arg is not NoneType]
        annotation = Optional[inner]
    if get_origin(annotation) is Literal:  # choices: a str Enum, turned back into its value by the command
        annotation = Enum(f"{name}_choices", {str(c): str(c) for c in get_args(annotation)}, type=str)
        default = annotation(str(default))
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[annotation, typer.Option(help=help_text)])


# Options of FamilyConfig that the shared options set (or training records).
_SHARED_FIELDS = {"kind", "latent_dim", "net", "dataset_size"}


def _train_command(kind: str):
    """``latentatlas train KIND``: the shared options plus the family's own, from its config."""
    from latentatlas.families import get_family

    family = get_family(kind)
    own = {name: field for name, field in family.config.model_fields.items() if name not in _SHARED_FIELDS}
    parameters = _common_train_options(family.config.train_defaults) + [_field_parameter(name, field, f"{kind}: {field.description}.") for name, field in own.items()]

    def command(**options) -> None:
        options = {name: value.value if isinstance(value, Enum) else value for name, value in options.items()}
        _run_train(kind, {name: options.pop(name) for name in own}, **options)

    command.__signature__ = inspect.Signature(parameters)
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = f"Train a {family.summary}."
    return command


def _run_train(kind: str, family_options: dict, *, out: Path, dataset: str, data_path: Optional[Path], channels: int,
               image_size: int, latent_dim: Optional[int], widths: str, resume: bool, **run) -> None:
    from latentatlas.data import DatasetSpec, load_dataset
    from latentatlas.families import build_model, get_family, model_config
    from latentatlas.nets import NetConfig
    from latentatlas.train import TrainConfig
    from latentatlas.train import train as run_training

    try:
        spec = DatasetSpec(name=dataset, path=str(data_path) if data_path else None, image_size=image_size, channels=channels)
        if dataset == DatasetName.folder.value:
            if data_path is None or not data_path.is_dir():
                raise ValueError(f"--dataset folder needs --data-path pointing at a folder of images (got {data_path})")
            data_channels, factors = channels, 5
        else:
            probe = load_dataset(spec)
            data_channels, factors = probe.channels, len(probe.factor_sizes)
        net = NetConfig(image_size=image_size, channels=data_channels, widths=tuple(int(w) for w in widths.split(",")))
        family = get_family(kind)
        config = model_config(kind=kind, latent_dim=latent_dim or family.config.default_latent_dim(net, factors), net=net, **family_options)
        build_model(config)  # the network's shape checks, before any data is drawn
        train_config = TrainConfig(**run)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    card = run_training(config, spec, train_config, out, resume=resume)
    typer.echo(json.dumps({"out": str(out), "steps": card["steps"], "wall_seconds": card["wall_seconds"], "heldout": card["heldout"]}))


def _register_train_commands() -> None:
    from latentatlas.families import families

    for kind, family in families().items():
        train_app.command(kind, help=f"Train a {family.summary}.")(_train_command(kind))


_register_train_commands()


@app.command()
def metrics(
    file: Annotated[Path, typer.Argument(help=".npz with z (N x D float), y (N x K int), optional train_rows.")],
    metrics: Annotated[Optional[str], typer.Option("--metrics", help="Comma-separated subset (default: all but exact dci).")] = None,
    discrete_latents: Annotated[bool, typer.Option(help="Latents are quantised codes (InfoMEC's plug-in estimator).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    seed: Annotated[int, typer.Option()] = 0,
    jobs: Annotated[int, typer.Option(help="Processes for exact DCI (one per factor at most).")] = 2,
) -> None:
    """Disentanglement metrics of saved latents and factors (first train_rows rows train, rest test)."""
    from latentatlas.metrics import MetricsInputError, compute_metrics, format_table, load_metrics_file

    try:
        z, y, train_rows = load_metrics_file(file)
        names = [name.strip() for name in metrics.split(",") if name.strip()] if metrics else None
        result = compute_metrics(z, y, train_rows, names, discrete_latents=discrete_latents, seed=seed, n_jobs=jobs)
    except MetricsInputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps(result) if as_json else format_table(result))


@app.command()
def fragments(
    file: Annotated[Path, typer.Argument(help=".npz with mu, logvar (M channels x N probe points), optional y (N x K int).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a summary.")] = False,
) -> None:
    """Information fragments: per-channel information, channel x channel NMI / VI, NMI / VI with factors."""
    from latentatlas.fragments import FragmentsInputError, compute_fragments, format_summary, load_fragments_file

    try:
        mu, logvar, y = load_fragments_file(file)
        result = compute_fragments(mu, logvar, y)
    except FragmentsInputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps(result) if as_json else format_summary(result))


@app.command()
def evaluate(
    folder: Annotated[Path, typer.Argument(help="Model folder (config.json, weights.safetensors, card.json).")],
    samples: Annotated[int, typer.Option(min=30, help="Factor samples rendered and encoded (2/3 train, 1/3 test).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seeds the samples, the votes and the metrics' randomness.")] = 0,
    train_votes: Annotated[int, typer.Option(min=1, help="FactorVAE/BetaVAE training votes of 64 images (reference: 10000).")] = 500,
    eval_votes: Annotated[int, typer.Option(min=1, help="FactorVAE/BetaVAE evaluation votes of 64 images (reference: 5000).")] = 250,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads, and processes for exact DCI.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    baselines_only: Annotated[bool, typer.Option(help="Only add the shuffled-rows null and the ceiling to the card's metrics, on their samples.")] = False,
    dci_baselines: Annotated[bool, typer.Option(help="Also give exact DCI a null and a ceiling (four more fits of minutes each).")] = False,
) -> None:
    """Every disentanglement metric of a trained model on its dataset; written to its card.json under "metrics",
    with a null (shuffled rows; drawn latent rows for FactorVAE / BetaVAE) and the perfect-latents ceiling
    beside every score but exact DCI (with --dci-baselines, beside it too).

    For an EOFlow, first its "flow" section: bits/dim, PSNR against C beside PCA, denoising,
    throughput and traversals.png; the metrics then score its top 2K latents."""
    from tqdm import tqdm

    from latentatlas.devices import resolve_device, set_threads
    from latentatlas.metrics import MetricsInputError, format_table
    from latentatlas.evaluation.disentanglement import EvaluationError, VoteCounts, evaluate_model
    from latentatlas.store.folders import load_model_folder

    set_threads(threads)
    try:
        votes = VoteCounts(train=train_votes, eval=eval_votes)
        torch_device = resolve_device(device)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if not (folder / "config.json").is_file():
        raise typer.BadParameter(f"{folder} is not a model folder (no config.json)")
    loaded = load_model_folder(folder, torch_device)  # once, for the flow section and the metrics
    if baselines_only:
        from latentatlas.evaluation.disentanglement import refresh_card_baselines

        try:
            baselines = refresh_card_baselines(loaded, n_jobs=threads, dci=dci_baselines)
        except EvaluationError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from error
        for name, ceiling in baselines["ceiling"].items():
            typer.echo(f"  {name:<22} null {baselines['null_mean'][name]:.3f} +- {baselines['null_sd'][name]:.3f}   ceiling {ceiling:.3f}")
        return
    if loaded.model.capabilities.ordered:
        from latentatlas.evaluation.flow import refresh_flow_card

        typer.echo(f"{folder.name}: top-C truncation and denoising against PCA on held-out images ...")
        flow = refresh_flow_card(loaded)
        truncation, denoise = flow["truncation"], flow["denoise"]
        typer.echo(f"bits/dim {flow['bits_per_dim']:.3f}; PSNR by C (EOFlow / PCA):")
        for keep, ours, pca in zip(truncation["keep"], truncation["psnr"], truncation["pca_psnr"]):
            typer.echo(f"  C={keep:>6}  {ours:6.2f} / {pca:6.2f} dB")
        typer.echo(f"denoising sigma {denoise['sigma']}: best C {denoise['best_keep']}, gain {denoise['gain_db']:+.2f} dB")
    with tqdm(total=100, desc=folder.name, unit="%", bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:

        def progress(fraction: float, stage: str) -> None:
            bar.set_description_str(f"{folder.name}: {stage}", refresh=False)
            bar.update(100 * fraction - bar.n)

        try:
            result = evaluate_model(loaded, samples, seed, votes, progress, n_jobs=threads, dci_baselines=dci_baselines)
        except (EvaluationError, MetricsInputError) as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from error
    typer.echo(format_table(result["values"]))
    typer.echo(
        f"{result['samples']:,} samples, {votes.train:,} + {votes.eval:,} votes, seed {seed}, "
        f"{result['seconds']['total']:.0f} s on {result['device']}; written to {folder / 'card.json'}"
    )


@app.command()
def finalize(
    folder: Annotated[Path, typer.Argument(help="Model folder (config.json, weights.safetensors, card.json).")],
    seed: Annotated[int, typer.Option(help="Seeds the training images the step draws (an EOFlow draws none).")] = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Run a trained model's end-of-training step again with this code and rewrite its weights.

    An EOFlow re-estimates each latent's explained entropy on its dataset's validation images
    and re-orders its latents by it. Refresh the card's evaluations afterwards with
    `latentatlas evaluate`. Prints the wall time and the process's peak resident memory."""
    import resource
    import time

    from latentatlas.devices import resolve_device, set_threads
    from latentatlas.train import refinalize_folder

    set_threads(threads)
    if not (folder / "config.json").is_file():
        raise typer.BadParameter(f"{folder} is not a model folder (no config.json)")
    try:
        torch_device = resolve_device(device)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    started = time.perf_counter()
    card = refinalize_folder(folder, torch_device, seed)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    typer.echo(json.dumps({"folder": str(folder), "seconds": round(time.perf_counter() - started, 1), "peak_rss_gib": round(peak_gib, 2), "finalized": card["finalized"]}))


@app.command()
def traverse(
    folder: Annotated[Path, typer.Argument(help="Model folder (config.json, weights.safetensors, card.json).")],
    out: Annotated[Path, typer.Option(help="Output file: .png (the labelled grid) or .gif (one frame per step, every dim as a row).")],
    image: Annotated[Optional[Path], typer.Option(help="Traverse from this image's latent (PNG, JPEG, WebP or GIF).")] = None,
    dataset_index: Annotated[Optional[int], typer.Option(min=0, help="Traverse from this dataset image's latent.")] = None,
    steps: Annotated[int, typer.Option(min=2, max=64, help="Steps per continuous dim (quantised dims step through their codebook).")] = 11,
    dims: Annotated[Optional[str], typer.Option(help="Comma-separated dims (default: the first up to 16, as the app).")] = None,
    scale: Annotated[Optional[int], typer.Option(min=1, max=16, help="Tile upscale (default: tiles of at least 64 pixels).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads.")] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Write a traversal for papers, exactly as the server's export does: from an image's latent,
    a dataset image's, or (neither given) the prior centre (latent mean, codes at the nearest code)."""
    from latentatlas.config import Settings
    from latentatlas.devices import resolve_device, set_threads
    from latentatlas.serve.images import ImageInputError, decode_upload
    from latentatlas.serve.registry import InputError, ModelService
    from latentatlas.store.folders import load_model_folder

    fmt = out.suffix.lower().removeprefix(".")
    if fmt not in ("png", "gif"):
        raise typer.BadParameter(f"{out} must end in .png (the labelled grid) or .gif (one frame per step)", param_hint="--out")
    if image is not None and dataset_index is not None:
        raise typer.BadParameter("give --image or --dataset-index, not both")
    try:
        dim_list = [int(part) for part in dims.split(",")] if dims else None
    except ValueError as error:
        raise typer.BadParameter(f"{dims!r} is not a comma-separated list of integers", param_hint="--dims") from error
    if not (folder / "config.json").is_file():
        raise typer.BadParameter(f"{folder} is not a model folder (no config.json)")
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
            images = decode_upload(image.read_bytes(), net.channels, net.image_size, settings.max_image_pixels, settings.max_decoded_pixels)
            latent, source = service.encode(images)["latent"], str(image)
        elif dataset_index is not None:
            latent, source = service.encode(service.dataset_images([dataset_index]))["latent"], f"dataset image {dataset_index}"
        else:
            latent, source = service.prior_centre(), "the prior centre"
        content = service.traverse_export(latent, dim_list, steps, settings.max_decode_batch, fmt, scale)
    except (OSError, ImageInputError, InputError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    typer.echo(f"{out}: {service.id}'s traversal from {source} ({len(content):,} bytes)")


@app.command("export-onnx")
def export_onnx(
    folders: Annotated[list[Path], typer.Argument(help="Model folders to export.")],
    cache_dir: Annotated[Optional[Path], typer.Option(help="Export cache (default: settings' onnx_cache_dir).")] = None,
    force: Annotated[bool, typer.Option(help="Export again even when the cache has this model.")] = False,
) -> None:
    """Export models' decoders and encoders to ONNX (what the app decodes in the browser), each
    checked against torch; prints what was exported, how closely it agrees, and what could not be."""
    import torch

    from latentatlas.config import Settings
    from latentatlas.export.onnx import cache_folder, export_onnx as export

    torch.set_num_threads(2)
    cache = cache_dir or Settings().onnx_cache_dir
    failed = False
    for folder in folders:
        if not (folder / "config.json").is_file():
            raise typer.BadParameter(f"{folder} is not a model folder (no config.json)")
        result = export(folder, cache, force=force)
        for name, part in result.parts.items():
            typer.echo(f"{folder.name}: {name} {part.bytes / 1e6:.1f} MB, max |onnx - torch| {part.max_abs_error:.1e} on {part.checked_on}")
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
    cache_dir: Annotated[Optional[Path], typer.Option(help="ONNX export cache (default: settings' onnx_cache_dir).")] = None,
) -> None:
    """Write a static, server-free explorer of these models: upload, sliders and traversal run in
    the browser (ONNX Runtime Web); serve OUT with e.g. `python -m http.server -d OUT`."""
    import torch

    from latentatlas.config import Settings
    from latentatlas.serve.static_site import export_site as build

    torch.set_num_threads(2)
    settings = Settings()
    for folder in folders:
        if not (folder / "config.json").is_file():
            raise typer.BadParameter(f"{folder} is not a model folder (no config.json)")
    report = build(folders, out, settings.frontend_dir, cache_dir or settings.onnx_cache_dir)
    for model_id, reason in report.skipped.items():
        typer.echo(f"{model_id}: left out, its decoder could not be exported ({reason})")
    if not report.models:
        typer.echo("error: no model could be exported", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(report.models)} model(s) in {out} ({report.bytes / 1e6:.1f} MB): {', '.join(report.models)}")
    typer.echo(f"serve it with: python -m http.server --directory {out}")


@app.command()
def compare(
    folders: Annotated[list[Path], typer.Argument(help="Model folders (with card.json) to compare.")],
) -> None:
    """A Markdown table of the models' held-out PSNR and disentanglement scores (from their cards)."""
    from latentatlas.evaluation.disentanglement import comparison_table

    cards = []
    for folder in folders:
        path = folder / "card.json"
        if not path.is_file():
            typer.echo(f"error: {folder} has no card.json", err=True)
            raise typer.Exit(2)
        try:
            cards.append(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            typer.echo(f"error: {path} is not JSON ({error})", err=True)
            raise typer.Exit(2) from error
    typer.echo(comparison_table(cards))


ensemble_app = typer.Typer(help="Ensembles of beta-VAE / beta-TCVAE runs and their information fragments.", no_args_is_help=True)
app.add_typer(ensemble_app, name="ensemble")


@ensemble_app.command("train")
def ensemble_train(
    out: Annotated[Path, typer.Option(help="Ensemble folder (manifest.json, probe set, one model folder per member).")],
    family: Annotated[str, typer.Option(help="Member family: one with a Gaussian posterior and a beta (vae: beta-VAE, tcvae: beta-TCVAE).")] = "vae",
    dataset: Annotated[DatasetName, typer.Option(help="Training data (dsprites or shapes3d give factors for the analysis).")] = DatasetName.dsprites,
    data_path: Annotated[Optional[Path], typer.Option(help="Image folder (with --dataset folder).")] = None,
    betas: Annotated[str, typer.Option(help="Betas, comma separated (KL weight; TC weight for betatcvae).")] = "1,2,4,8,16",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per beta (0 .. N-1).")] = 6,
    image_size: Annotated[int, typer.Option(help="Square image size (a power of two).")] = 64,
    widths: Annotated[str, typer.Option(help="Encoder widths, comma separated, one per stride-2 layer.")] = "32,64,64,128",
    latent_dim: Annotated[int, typer.Option(min=1, help="Latent size of every member.")] = 10,
    steps: Annotated[int, typer.Option(min=1, help="Training steps per member.")] = 20_000,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads per member.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    probe_size: Annotated[int, typer.Option(min=2, help="Probe points encoded per member for the fragments analysis.")] = 1000,
    jobs: Annotated[Optional[int], typer.Option(min=1, help="Members trained at once (default: cores // threads).")] = None,
    ray_address: Annotated[Optional[str], typer.Option(help="Run members as Ray tasks on this cluster (auto, local, ray://host:port).")] = None,
) -> None:
    """Train (or resume) an ensemble: every beta x seed; finished members are skipped, failed ones retried."""
    from latentatlas.data import DatasetSpec
    from latentatlas.nets import NetConfig
    from latentatlas.nets.blocks import layer_widths
    from latentatlas.train import TrainConfig
    from latentatlas.store.ensembles import EnsembleConfig, EnsembleError
    from latentatlas.train.ensemble import run_ensemble

    try:
        spec = DatasetSpec(name=dataset.value, path=str(data_path) if data_path else None, image_size=image_size)
        if dataset is DatasetName.folder and (data_path is None or not data_path.is_dir()):
            raise ValueError(f"--dataset folder needs --data-path pointing at a folder of images (got {data_path})")
        channels = 1 if dataset is DatasetName.dsprites else 3
        net = NetConfig(image_size=image_size, channels=channels, widths=tuple(int(w) for w in widths.split(",")))
        layer_widths(net)
        config = EnsembleConfig(
            kind=family,
            dataset=spec, net=net, latent_dim=latent_dim,
            betas=tuple(float(b) for b in betas.split(",") if b.strip()), seeds=seeds,
            train=TrainConfig(steps=steps, batch_size=batch_size, lr=lr, threads=threads, device=device),
            probe_size=probe_size,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    try:
        manifest = run_ensemble(config, out, jobs=jobs, ray_address=ray_address)
    except EnsembleError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    _report_members(manifest, out)


def _report_members(manifest: dict, out: Path) -> None:
    """Print a run's summary (JSON) and exit 1 when any member failed."""
    from latentatlas.train.ensemble import summary

    result = summary(manifest)
    typer.echo(json.dumps({"out": str(out), **result}))
    if result["failed_members"]:
        raise typer.Exit(1)


@ensemble_app.command("analyze")
def ensemble_analyze(
    folder: Annotated[Path, typer.Argument(help="Ensemble folder (with manifest.json).")],
    distance: Annotated[str, typer.Option(help="Hotspot distance: nmi (-log NMI) or vi (clip(VI, 0)).")] = "nmi",
    min_samples: Annotated[
        Optional[int],
        typer.Option(min=2, help="OPTICS min_samples (default: the rule, seeds per beta; paper: 20; capped at the active channels)."),
    ] = None,
) -> None:
    """Information fragments and hotspots of the ensemble's members; writes analysis.json next to the manifest."""
    from latentatlas.fragments import FragmentsInputError
    from latentatlas.evaluation.ensemble import ANALYSIS_FILE, analyze_ensemble
    from latentatlas.store.ensembles import EnsembleError

    if distance not in ("nmi", "vi"):
        raise typer.BadParameter(f"--distance must be nmi or vi, got {distance!r}")
    try:
        analysis = analyze_ensemble(folder, distance=distance, min_samples=min_samples)  # type: ignore[arg-type]
    except (EnsembleError, FragmentsInputError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    active = sum(analysis["active"])
    typer.echo(json.dumps({
        "out": str(folder / ANALYSIS_FILE), "members": len(analysis["members"]), "channels": len(analysis["channels"]),
        "active": active, "hotspots": len(analysis["hotspots"]["clusters"]), "skipped": len(analysis["skipped_members"]),
        "min_samples": analysis["hotspots"]["min_samples"], "min_samples_rule": analysis["hotspots"]["min_samples_rule"],
    }))


zoo_app = typer.Typer(help="Model zoos: families x hyper-parameters x seeds x datasets, scored with one protocol.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")


@ensemble_app.command("ship")
def ensemble_ship(folder: Annotated[Path, typer.Argument(help="Ensemble folder (with manifest.json).")]) -> None:
    """Rewrite the finished members' weights as float16 for shipping (after `ensemble analyze`)."""
    from latentatlas.store.ensembles import EnsembleError, ship_members

    try:
        shipped = ship_members(folder)
    except EnsembleError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps({"float16": shipped}))


@zoo_app.command("train")
def zoo_train(
    config: Annotated[Path, typer.Argument(help="Zoo config (JSON: datasets, variants, seeds, train, evaluation, claims).")],
    out: Annotated[Path, typer.Option(help="Zoo folder (zoo.json, one model folder per member at DATASET/VARIANT-seedS).")],
    workers: Annotated[Optional[int], typer.Option(min=1, help="Members trained at once (default: cores // threads).")] = None,
    ray_address: Annotated[Optional[str], typer.Option(help="Run members as Ray tasks on this cluster (auto, local, ray://host:port).")] = None,
    only: Annotated[Optional[list[str]], typer.Option(help="Train only members matching this pattern (repeatable), e.g. 'shapes3d/tcvae-*'.")] = None,
) -> None:
    """Train (or resume) a zoo: finished members are skipped, interrupted ones continue from their checkpoints."""
    from pydantic import ValidationError

    from latentatlas.store.ensembles import EnsembleError
    from latentatlas.store.zoo import ZooError, read_zoo_config
    from latentatlas.train.zoo import run_zoo

    try:
        zoo = read_zoo_config(config)
        manifest = run_zoo(zoo, out, workers=workers, ray_address=ray_address, only=only or ())
    except (ValidationError, ZooError, EnsembleError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    _report_members(manifest, out)


@zoo_app.command("evaluate")
def zoo_evaluate(
    folder: Annotated[Path, typer.Argument(help="Zoo folder (with zoo.json).")],
    force: Annotated[bool, typer.Option(help="Score again members already scored under the protocol.")] = False,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads.")] = 1,
) -> None:
    """Score every trained member with the zoo's protocol (scores, shuffled-rows null, ceiling) into its card."""
    from latentatlas.devices import set_threads
    from latentatlas.evaluation.zoo import evaluate_zoo
    from latentatlas.store.zoo import ZooError

    set_threads(threads)
    try:
        result = evaluate_zoo(folder, force=force, log=typer.echo)
    except ZooError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps({"scored": len(result["scored"]), "skipped": len(result["skipped"])}))


@zoo_app.command("compare")
def zoo_compare(
    folder: Annotated[Path, typer.Argument(help="Zoo folder (with zoo.json and evaluated members).")],
) -> None:
    """Print the zoo table (mean ± sd [95 % CI] per variant, null, ceiling, the claims' tests); writes table.md and table.json."""
    from latentatlas.evaluation.zoo import compare_zoo, comparison_markdown
    from latentatlas.store.zoo import ZooError

    try:
        result = compare_zoo(folder)
    except ZooError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(comparison_markdown(result))


@zoo_app.command("ship")
def zoo_ship(folder: Annotated[Path, typer.Argument(help="Zoo folder (with zoo.json).")]) -> None:
    """Rewrite the showcase variants' seed-0 weights as float16 for shipping (after `zoo evaluate`)."""
    from latentatlas.store.zoo import ZooError, ship_showcases

    try:
        shipped = ship_showcases(folder)
    except ZooError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps({"float16": shipped}))


if __name__ == "__main__":
    app()
