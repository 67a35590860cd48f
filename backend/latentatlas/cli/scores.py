"""``metrics``, ``fragments``, ``evaluate``, ``finalize`` and ``compare``: scoring latents and models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from latentatlas.cli.common import app, fail, require_model_folder
from latentatlas.metrics.report import DEFAULT_METRICS, METRIC_NAMES

METRICS_HELP = f"Comma-separated subset of {', '.join(METRIC_NAMES)} (default: {', '.join(DEFAULT_METRICS)})."


@app.command()
def metrics(
    file: Annotated[Path, typer.Argument(help=".npz with z (N x D float), y (N x K int), optional train_rows.")],
    metrics: Annotated[str | None, typer.Option("--metrics", help=METRICS_HELP)] = None,
    discrete_latents: Annotated[
        bool, typer.Option(help="Latents are quantised codes (InfoMEC's plug-in estimator).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    seed: Annotated[int, typer.Option()] = 0,
    jobs: Annotated[int, typer.Option(help="Processes for exact DCI (one per factor at most).")] = 2,
    med_topk: Annotated[
        str | None,
        typer.Option(help="Top-k MED for each k, comma separated (e.g. 1,2): MED over each factor's k best latents."),
    ] = None,
) -> None:
    """Disentanglement metrics of saved latents and factors (first train_rows rows train, rest test)."""
    from latentatlas.metrics import MetricsInputError, compute_metrics, format_table, load_metrics_file

    try:
        z, y, train_rows = load_metrics_file(file)
        names = [name.strip() for name in metrics.split(",") if name.strip()] if metrics else None
        topk = _integers(med_topk, "--med-topk") if med_topk else ()
        result = compute_metrics(
            z, y, train_rows, names, discrete_latents=discrete_latents, seed=seed, n_jobs=jobs, med_topk=topk
        )
    except MetricsInputError as error:
        fail(error)
    typer.echo(json.dumps(result) if as_json else format_table(result))


def _integers(text: str, option: str) -> tuple[int, ...]:
    """``"1,2"`` -> (1, 2); a usage error naming ``option`` otherwise."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of integers", param_hint=option) from error


@app.command()
def fragments(
    file: Annotated[
        Path, typer.Argument(help=".npz with mu, logvar (M channels x N probe points), optional y (N x K int).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a summary.")] = False,
) -> None:
    """Information fragments: per-channel information, channel x channel NMI / VI, NMI / VI with factors."""
    from latentatlas.fragments import FragmentsInputError, compute_fragments, format_summary, load_fragments_file

    try:
        mu, logvar, y = load_fragments_file(file)
        result = compute_fragments(mu, logvar, y)
    except FragmentsInputError as error:
        fail(error)
    typer.echo(json.dumps(result) if as_json else format_summary(result))


@app.command()
def evaluate(
    folders: Annotated[
        list[Path], typer.Argument(help="Model folders (config.json, weights or graphs, card.json); one or many.")
    ],
    samples: Annotated[
        int, typer.Option(min=30, help="Factor samples rendered and encoded (2/3 train, 1/3 test).")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Seeds the samples, the votes and the metrics' randomness.")] = 0,
    train_votes: Annotated[
        int, typer.Option(min=1, help="FactorVAE/BetaVAE training votes of 64 images (reference: 10000).")
    ] = 500,
    eval_votes: Annotated[
        int, typer.Option(min=1, help="FactorVAE/BetaVAE evaluation votes of 64 images (reference: 5000).")
    ] = 250,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads, and processes for exact DCI.")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    baselines_only: Annotated[
        bool,
        typer.Option(help="Only add the shuffled-rows null and the ceiling to the card's metrics, on their samples."),
    ] = False,
    dci_baselines: Annotated[
        bool, typer.Option(help="Also give exact DCI a null and a ceiling (four more fits of minutes each).")
    ] = False,
    leave_out: Annotated[
        list[str] | None,
        typer.Option(help="A metric not to compute (repeatable), e.g. dci: exact DCI's trees on hundreds of latents."),
    ] = None,
    add: Annotated[
        list[str] | None,
        typer.Option(
            help="Only score this metric (repeatable) on the card's own samples and add it, with its null and "
            "ceiling, to the card's metrics; the others stay (e.g. med on a card scored before MED)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Several folders: score this many at once in local processes (default: cores // threads)."
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Several folders: one Ray task each on this cluster (auto, local, ray://host:port)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Several folders: score again those whose card already holds this protocol's metrics.")
    ] = False,
) -> None:
    """Every disentanglement metric of trained or imported models on their datasets; written to each card.json
    under "metrics", with a null (shuffled rows; drawn latent rows for FactorVAE / BetaVAE) and the perfect-latents
    ceiling beside every score but exact DCI (with --dci-baselines, beside it too).

    For an EOFlow, first its "flow" section: bits/dim, PSNR against C beside PCA, denoising,
    throughput and traversals.png; the metrics then score its top 2K latents.

    Several folders (or --workers / --ray-address) run as one job each, resumably: a folder already
    scored under the same samples, seed and votes is skipped (--force scores it again); one JSON line per
    folder as it finishes, then a summary; the exit status is 1 when any folder failed."""
    from pydantic import ValidationError

    from latentatlas.evaluation.folder_scoring import EvaluationRequest

    try:
        request = EvaluationRequest(
            samples=samples,
            seed=seed,
            train_votes=train_votes,
            eval_votes=eval_votes,
            threads=threads,
            device=device,
            dci_baselines=dci_baselines,
            leave_out=tuple(leave_out or ()),
            force=force,
        )
    except ValidationError as error:
        fail(error)
    for folder in folders:
        require_model_folder(folder)
    if add:
        if baselines_only or workers is not None or ray_address is not None:
            raise typer.BadParameter("--add scores folders one after another, without --baselines-only or workers")
        for folder in folders:
            _add_metrics(folder, request, tuple(add))
    elif len(folders) > 1 or workers is not None or ray_address is not None:
        if baselines_only:
            raise typer.BadParameter("--baselines-only scores one folder at a time")
        _evaluate_many(folders, request, workers, ray_address)
    elif baselines_only:
        _refresh_baselines(folders[0], request)
    else:
        _evaluate_one(folders[0], request)


def _load(folder: Path, request):
    from latentatlas.devices import resolve_device, set_threads
    from latentatlas.store.folders import load_model_folder

    set_threads(request.threads)
    try:
        torch_device = resolve_device(request.device)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    return load_model_folder(folder, torch_device)


def _refresh_baselines(folder: Path, request) -> None:
    from latentatlas.evaluation.card_refresh import refresh_card_baselines
    from latentatlas.evaluation.disentanglement import EvaluationError

    loaded = _load(folder, request)
    if not loaded.model.capabilities.encode:
        fail(ValueError(f"{folder} has no encoder to score (saved latents: their card's metrics came with the import)"))
    try:
        baselines = refresh_card_baselines(loaded, n_jobs=request.threads, dci=request.dci_baselines)
    except EvaluationError as error:
        fail(error)
    for name, ceiling in baselines["ceiling"].items():
        typer.echo(
            f"  {name:<22} null {baselines['null_mean'][name]:.3f} +- {baselines['null_sd'][name]:.3f}   ceiling {ceiling:.3f}"
        )


def _add_metrics(folder: Path, request, names: tuple[str, ...]) -> None:
    from latentatlas.evaluation.card_refresh import add_card_metrics
    from latentatlas.evaluation.disentanglement import EvaluationError
    from latentatlas.metrics import MetricsInputError, format_table

    loaded = _load(folder, request)
    if not loaded.model.capabilities.encode:
        fail(ValueError(f"{folder} has no encoder to score (saved latents: their card's metrics came with the import)"))
    try:
        metrics = add_card_metrics(loaded, names, n_jobs=request.threads)
    except (EvaluationError, MetricsInputError, OSError, ValueError) as error:
        fail(error)
    typer.echo(
        f"{folder}: added {', '.join(names)} ({metrics['added'][-1]['seconds']} s) on its {metrics['samples']:,} samples"
    )
    typer.echo(format_table({name: metrics["values"][name] for name in names if name in metrics["values"]}))


def _evaluate_one(folder: Path, request) -> None:
    from tqdm import tqdm

    from latentatlas.evaluation.disentanglement import EvaluationError
    from latentatlas.evaluation.folder_scoring import score_loaded
    from latentatlas.metrics import MetricsInputError, format_table

    loaded = _load(folder, request)
    with tqdm(
        total=100, desc=folder.name, unit="%", bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}"
    ) as bar:

        def progress(fraction: float, stage: str) -> None:
            bar.set_description_str(f"{folder.name}: {stage}", refresh=False)
            bar.update(100 * fraction - bar.n)

        try:
            result = score_loaded(loaded, request, progress, log=tqdm.write)
        except (EvaluationError, MetricsInputError, OSError, ValueError) as error:  # a dataset not on this machine too
            fail(error)
    typer.echo(format_table(result["values"]))
    votes = result["votes"]
    typer.echo(
        f"{result['samples']:,} samples, {votes['train']:,} + {votes['eval']:,} votes, seed {request.seed}, "
        f"{result['seconds']['total']:.0f} s on {result['device']}; written to {folder / 'card.json'}"
    )


def _evaluate_many(folders: list[Path], request, workers: int | None, ray_address: str | None) -> None:
    from latentatlas.store.ensembles import EnsembleError
    from latentatlas.train.scoring_runs import evaluate_folders

    def report(entry: dict) -> None:
        typer.echo(json.dumps({k: v for k, v in entry.items() if k != "traceback"}))

    try:
        entries = evaluate_folders(folders, request, workers=workers, ray_address=ray_address, on_result=report)
    except (EnsembleError, ConnectionError) as error:  # --ray-address without Ray, or no cluster there
        fail(error)
    counts = {status: sum(e["status"] == status for e in entries) for status in ("done", "skipped", "failed")}
    typer.echo(json.dumps({"folders": len(entries), **counts}))
    if counts["failed"]:
        raise typer.Exit(1)


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
    require_model_folder(folder)
    try:
        torch_device = resolve_device(device)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    started = time.perf_counter()
    card = refinalize_folder(folder, torch_device, seed)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    typer.echo(
        json.dumps(
            {
                "folder": str(folder),
                "seconds": round(time.perf_counter() - started, 1),
                "peak_rss_gib": round(peak_gib, 2),
                "finalized": card["finalized"],
            }
        )
    )


@app.command()
def compare(
    folders: Annotated[list[Path], typer.Argument(help="Model folders (with card.json) to compare.")],
) -> None:
    """A Markdown table of the models' held-out PSNR and disentanglement scores (from their cards)."""
    from latentatlas.evaluation.card_table import comparison_table

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
