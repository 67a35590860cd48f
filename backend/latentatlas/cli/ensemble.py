"""``latentatlas ensemble``: train, import, analyse and ship ensembles of VAEs (or of saved-latents runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from latentatlas.cli.common import DatasetName, app, fail

ensemble_app = typer.Typer(
    help="Ensembles of beta-VAE / beta-TCVAE runs and their information fragments.", no_args_is_help=True
)
app.add_typer(ensemble_app, name="ensemble")


@ensemble_app.command("train")
def ensemble_train(
    out: Annotated[Path, typer.Option(help="Ensemble folder (manifest.json, probe set, one model folder per member).")],
    family: Annotated[
        str,
        typer.Option(
            help="Member family: one with a Gaussian posterior and a beta (vae: beta-VAE, tcvae: beta-TCVAE)."
        ),
    ] = "vae",
    dataset: Annotated[
        DatasetName, typer.Option(help="Training data (all but an unlabelled folder give factors for the analysis).")
    ] = DatasetName.dsprites,
    data_path: Annotated[
        Path | None, typer.Option(help="The official dataset file or folder, or an image folder.")
    ] = None,
    betas: Annotated[
        str, typer.Option(help="Betas, comma separated (KL weight; TC weight for betatcvae).")
    ] = "1,2,4,8,16",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per beta (0 .. N-1).")] = 6,
    image_size: Annotated[int, typer.Option(help="Square image size (a power of two).")] = 64,
    widths: Annotated[
        str, typer.Option(help="Encoder widths, comma separated, one per stride-2 layer.")
    ] = "32,64,64,128",
    latent_dim: Annotated[int, typer.Option(min=1, help="Latent size of every member.")] = 10,
    steps: Annotated[int, typer.Option(min=1, help="Training steps per member.")] = 20_000,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads per member.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    probe_size: Annotated[
        int, typer.Option(min=2, help="Probe points encoded per member for the fragments analysis.")
    ] = 1000,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Members trained at once (default: cores // threads).")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Run members as Ray tasks on this cluster (auto, local, ray://host:port).")
    ] = None,
) -> None:
    """Train (or resume) an ensemble: every beta x seed; finished members are skipped, failed ones retried."""
    from latentatlas.data.spec import DatasetError, DatasetSpec
    from latentatlas.nets import NetConfig
    from latentatlas.nets.blocks import layer_widths
    from latentatlas.store.ensembles import EnsembleConfig, EnsembleError
    from latentatlas.train import TrainConfig
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
            dataset=spec,
            net=net,
            latent_dim=latent_dim,
            betas=tuple(float(b) for b in betas.split(",") if b.strip()),
            seeds=seeds,
            train=TrainConfig(steps=steps, batch_size=batch_size, lr=lr, threads=threads, device=device),
            probe_size=probe_size,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    try:
        manifest = run_ensemble(config, out, jobs=jobs, ray_address=ray_address)
    except (EnsembleError, DatasetError) as error:
        fail(error)
    report_members(manifest, out)


def report_members(manifest: dict, out: Path) -> None:
    """Print a run's summary (JSON) and exit 1 when any member failed."""
    from latentatlas.train.ensemble import summary

    result = summary(manifest)
    typer.echo(json.dumps({"out": str(out), **result}))
    if result["failed_members"]:
        raise typer.Exit(1)


@ensemble_app.command("import")
def ensemble_import(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run files (.npz), one per run: mu (or z) and logvar (N x D floats), y (N x K factor indices), "
            "optional factor_names, indices, dataset; the same probe rows in every run."
        ),
    ],
    out: Annotated[Path, typer.Option(help="New ensemble folder (e.g. models/ensembles/NAME); must not exist.")],
    names: Annotated[
        str | None, typer.Option(help="Member names, comma separated, one per file (default: the file names).")
    ] = None,
) -> None:
    """Import saved-latents runs from any framework as one ensemble, for `ensemble analyze` and the ensemble page.

    Every file is read without pickles (allow_pickle=False) and checked before anything is written; runs may
    differ in latent size. Prints the members and their latent sizes as JSON."""
    from latentatlas.imports import ModelImportError, import_ensemble

    try:
        manifest = import_ensemble(runs, out, [n.strip() for n in names.split(",")] if names is not None else None)
    except ModelImportError as error:
        fail(error)
    typer.echo(
        json.dumps(
            {
                "out": str(out),
                "members": {m["name"]: m["latent_dim"] for m in manifest["members"]},
                "probe_size": manifest["config"]["probe_size"],
            }
        )
    )


@ensemble_app.command("analyze")
def ensemble_analyze(
    folder: Annotated[Path, typer.Argument(help="Ensemble folder (with manifest.json).")],
    distance: Annotated[str, typer.Option(help="Hotspot distance: nmi (-log NMI) or vi (clip(VI, 0)).")] = "nmi",
    min_samples: Annotated[
        int | None,
        typer.Option(
            min=2,
            help="OPTICS min_samples (default: the rule, seeds per beta; paper: 20; capped at the active channels).",
        ),
    ] = None,
) -> None:
    """Information fragments and hotspots of the ensemble's members; writes analysis.json next to the manifest."""
    from latentatlas.evaluation.ensemble import analyze_ensemble
    from latentatlas.fragments import FragmentsInputError
    from latentatlas.store.ensembles import ANALYSIS_FILE, EnsembleError

    if distance not in ("nmi", "vi"):
        raise typer.BadParameter(f"--distance must be nmi or vi, got {distance!r}")
    try:
        analysis = analyze_ensemble(folder, distance=distance, min_samples=min_samples)  # type: ignore[arg-type]
    except (EnsembleError, FragmentsInputError) as error:
        fail(error)
    active = sum(analysis["active"])
    typer.echo(
        json.dumps(
            {
                "out": str(folder / ANALYSIS_FILE),
                "members": len(analysis["members"]),
                "channels": len(analysis["channels"]),
                "active": active,
                "hotspots": len(analysis["hotspots"]["clusters"]),
                "beat_untrained_null": (  # None: no untrained null (imported runs have no architecture to copy)
                    sum(bool(c["beats_untrained_null"]) for c in analysis["hotspots"]["clusters"])
                    if analysis.get("untrained_null")
                    else None
                ),
                "skipped": len(analysis["skipped_members"]),
                "min_samples": analysis["hotspots"]["min_samples"],
                "min_samples_rule": analysis["hotspots"]["min_samples_rule"],
            }
        )
    )


@ensemble_app.command("ship")
def ensemble_ship(folder: Annotated[Path, typer.Argument(help="Ensemble folder (with manifest.json).")]) -> None:
    """Rewrite the finished members' weights as float16 for shipping (after `ensemble analyze`)."""
    from latentatlas.store.ensembles import EnsembleError, ship_members

    try:
        shipped = ship_members(folder)
    except EnsembleError as error:
        fail(error)
    typer.echo(json.dumps({"float16": shipped}))
