"""The ``latentatlas`` command line: ``serve``, ``train``, ``evaluate``, ``metrics``, ``fragments`` and ``ensemble``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Latent Atlas: train and explore disentangled representation models.", no_args_is_help=True)


class ModelKind(str, Enum):
    qlae = "qlae"
    ae = "ae"
    vae = "vae"
    tcvae = "tcvae"
    eoflow = "eoflow"


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
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, ws_max_size=1 << 20)


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Output model folder (config.json, weights.safetensors, card.json).")],
    model: Annotated[ModelKind, typer.Option(help="Model family.")] = ModelKind.qlae,
    dataset: Annotated[DatasetName, typer.Option(help="Training data.")] = DatasetName.dsprites,
    data_path: Annotated[Optional[Path], typer.Option(help="Image folder (with --dataset folder).")] = None,
    channels: Annotated[int, typer.Option(help="Image channels for an image folder (1 or 3).")] = 3,
    image_size: Annotated[int, typer.Option(help="Square image size (a power of two).")] = 64,
    latent_dim: Annotated[Optional[int], typer.Option(help="Latent size (default: twice the number of factors, 10 for folders; an EOFlow's is its pixel count).")] = None,
    widths: Annotated[str, typer.Option(help="Encoder widths, comma separated, one per stride-2 layer.")] = "32,64,64,128",
    steps: Annotated[int, typer.Option(help="Training steps.")] = 20_000,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop early after this many minutes.")] = None,
    batch_size: Annotated[int, typer.Option()] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay on weights (QLAE: 0.1).")] = 0.1,
    beta: Annotated[float, typer.Option(help="KL weight for --model vae, TC weight for --model tcvae.")] = 1.0,
    quantize_warmup: Annotated[int, typer.Option(help="QLAE steps over which the decoder input snaps to the codes.")] = 500,
    flow_levels: Annotated[int, typer.Option(help="EOFlow: squeeze levels (image size must divide by 2^levels).")] = 2,
    flow_blocks: Annotated[int, typer.Option(help="EOFlow: coupling blocks per level.")] = 4,
    flow_hidden: Annotated[int, typer.Option(help="EOFlow: conditioner width.")] = 64,
    flow_principal: Annotated[bool, typer.Option(help="EOFlow: end in a principal rotation fitted to data (starts at PCA's top-C).")] = True,
    lambda_mtc: Annotated[float, typer.Option(help="EOFlow: weight of the explained-entropy (MTC) term; 1 = principal-component flow.")] = 0.5,
    noise_sigma: Annotated[float, typer.Option(help="EOFlow: noise augmentation sd (pixel units).")] = 0.05,
    recon_weight: Annotated[float, typer.Option(help="EOFlow: weight of the top-C reconstruction term (0: off).")] = 0.0,
    core_size: Annotated[int, typer.Option(help="EOFlow: C of the top-C reconstruction term.")] = 16,
    seed: Annotated[int, typer.Option()] = 0,
    threads: Annotated[int, typer.Option(help="torch intra-op threads.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    checkpoint_every: Annotated[int, typer.Option(help="Steps between resumable checkpoints.")] = 1000,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint if present.")] = False,
) -> None:
    """Train a model with the CLI's progress bar, checkpoints and card."""
    from latentatlas.data import DatasetSpec, load_dataset
    from latentatlas.nets import ModelConfig, NetConfig
    from latentatlas.nets.blocks import layer_widths
    from latentatlas.train import TrainConfig
    from latentatlas.train import train as run_training

    try:
        spec = DatasetSpec(name=dataset.value, path=str(data_path) if data_path else None, image_size=image_size, channels=channels)
        if dataset is DatasetName.folder:
            if data_path is None or not data_path.is_dir():
                raise ValueError(f"--dataset folder needs --data-path pointing at a folder of images (got {data_path})")
            data_channels, factors = channels, 5
        else:
            probe = load_dataset(spec)
            data_channels, factors = probe.channels, len(probe.factor_sizes)
        net = NetConfig(image_size=image_size, channels=data_channels, widths=tuple(int(w) for w in widths.split(",")))
        if model is not ModelKind.eoflow:  # a flow has no conv encoder/decoder
            layer_widths(net)
        model_config = ModelConfig(
            kind=model.value,
            latent_dim=latent_dim or (net.channels * image_size**2 if model is ModelKind.eoflow else 2 * factors),
            net=net,
            beta=beta,
            quantize_warmup=quantize_warmup,
            flow_levels=flow_levels,
            flow_blocks=flow_blocks,
            flow_hidden=flow_hidden,
            flow_principal=flow_principal,
            lambda_mtc=lambda_mtc,
            noise_sigma=noise_sigma,
            recon_weight=recon_weight,
            core_size=core_size,
        )
        train_config = TrainConfig(
            steps=steps, max_minutes=max_minutes, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
            seed=seed, threads=threads, device=device, checkpoint_every=checkpoint_every,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    card = run_training(model_config, spec, train_config, out, resume=resume)
    typer.echo(json.dumps({"out": str(out), "steps": card["steps"], "wall_seconds": card["wall_seconds"], "heldout": card["heldout"]}))


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
) -> None:
    """Every disentanglement metric of a trained model on its dataset; written to its card.json under "metrics".

    For an EOFlow, first its "flow" section: bits/dim, PSNR against C beside PCA, denoising,
    throughput and traversals.png; the metrics then score its top 2K latents."""
    from tqdm import tqdm

    from latentatlas.devices import resolve_device, set_threads
    from latentatlas.metrics import MetricsInputError, format_table
    from latentatlas.train.evaluation import EvaluationError, VoteCounts, evaluate_model
    from latentatlas.train.checkpoint import load_model_folder

    set_threads(threads)
    try:
        votes = VoteCounts(train=train_votes, eval=eval_votes)
        torch_device = resolve_device(device)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if not (folder / "config.json").is_file():
        raise typer.BadParameter(f"{folder} is not a model folder (no config.json)")
    loaded = load_model_folder(folder, torch_device)  # once, for the flow section and the metrics
    if loaded.config.model.kind == "eoflow":
        from latentatlas.train.flow_evaluation import refresh_flow_card

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
            result = evaluate_model(loaded, samples, seed, votes, progress, n_jobs=threads)
        except (EvaluationError, MetricsInputError) as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from error
    typer.echo(format_table(result["values"]))
    typer.echo(
        f"{result['samples']:,} samples, {votes.train:,} + {votes.eval:,} votes, seed {seed}, "
        f"{result['seconds']['total']:.0f} s on {result['device']}; written to {folder / 'card.json'}"
    )


@app.command()
def compare(
    folders: Annotated[list[Path], typer.Argument(help="Model folders (with card.json) to compare.")],
) -> None:
    """A Markdown table of the models' held-out PSNR and disentanglement scores (from their cards)."""
    from latentatlas.train.evaluation import comparison_table

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


class EnsembleModel(str, Enum):
    betavae = "betavae"
    betatcvae = "betatcvae"


@ensemble_app.command("train")
def ensemble_train(
    out: Annotated[Path, typer.Option(help="Ensemble folder (manifest.json, probe set, one model folder per member).")],
    model: Annotated[EnsembleModel, typer.Option(help="Member family.")] = EnsembleModel.betavae,
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
    from latentatlas.train.ensemble import EnsembleConfig, EnsembleError, run_ensemble, summary

    try:
        spec = DatasetSpec(name=dataset.value, path=str(data_path) if data_path else None, image_size=image_size)
        if dataset is DatasetName.folder and (data_path is None or not data_path.is_dir()):
            raise ValueError(f"--dataset folder needs --data-path pointing at a folder of images (got {data_path})")
        channels = 1 if dataset is DatasetName.dsprites else 3
        net = NetConfig(image_size=image_size, channels=channels, widths=tuple(int(w) for w in widths.split(",")))
        layer_widths(net)
        config = EnsembleConfig(
            kind="vae" if model is EnsembleModel.betavae else "tcvae",
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
    result = summary(manifest)
    typer.echo(json.dumps({"out": str(out), **result}))
    if result["failed_members"]:
        raise typer.Exit(1)


@ensemble_app.command("analyze")
def ensemble_analyze(
    folder: Annotated[Path, typer.Argument(help="Ensemble folder (with manifest.json).")],
    distance: Annotated[str, typer.Option(help="Hotspot distance: nmi (-log NMI) or vi (clip(VI, 0)).")] = "nmi",
    min_samples: Annotated[int, typer.Option(min=2, help="OPTICS min_samples (paper: 20; capped at the active channels).")] = 20,
) -> None:
    """Information fragments and hotspots of the ensemble's members; writes analysis.json next to the manifest."""
    from latentatlas.fragments import FragmentsInputError
    from latentatlas.train.ensemble import EnsembleError
    from latentatlas.train.ensemble_analysis import ANALYSIS_FILE, analyze_ensemble

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
    }))


if __name__ == "__main__":
    app()
