"""``latentatlas zoo``: train, score, compare and ship model zoos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from latentatlas.cli.common import app, fail
from latentatlas.cli.ensemble import report_members

zoo_app = typer.Typer(
    help="Model zoos: families x hyper-parameters x seeds x datasets, scored with one protocol.", no_args_is_help=True
)
app.add_typer(zoo_app, name="zoo")


@zoo_app.command("train")
def zoo_train(
    config: Annotated[
        Path, typer.Argument(help="Zoo config (JSON: datasets, variants, seeds, train, evaluation, claims).")
    ],
    out: Annotated[
        Path, typer.Option(help="Zoo folder (zoo.json, one model folder per member at DATASET/VARIANT-seedS).")
    ],
    workers: Annotated[
        int | None, typer.Option(min=1, help="Members trained at once (default: cores // threads).")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Run members as Ray tasks on this cluster (auto, local, ray://host:port).")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="Train only members matching this pattern (repeatable), e.g. 'shapes3d/tcvae-*'."),
    ] = None,
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
        fail(error)
    report_members(manifest, out)


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
        fail(error)
    typer.echo(json.dumps({"scored": len(result["scored"]), "skipped": len(result["skipped"])}))


@zoo_app.command("compare")
def zoo_compare(
    folder: Annotated[Path, typer.Argument(help="Zoo folder (with zoo.json and evaluated members).")],
    claims: Annotated[
        Path | None,
        typer.Option(
            help="Claims file (the zoo's config with its claims, equivalence bounds and null tests): written into "
            "zoo.json first; its members must be the zoo's."
        ),
    ] = None,
) -> None:
    """Print the zoo table (mean ± sd [95 % CI] per variant, null, ceiling) and the claims file's tested
    statements (null tests, differences, equivalence; Holm per dataset); writes table.md and table.json."""
    from pydantic import ValidationError

    from latentatlas.evaluation.zoo import compare_zoo, comparison_markdown
    from latentatlas.store.zoo import ZooError, read_zoo_config, register_claims

    try:
        if claims is not None:
            register_claims(folder, read_zoo_config(claims))
        result = compare_zoo(folder)
    except (ValidationError, ZooError) as error:
        fail(error)
    typer.echo(comparison_markdown(result))


@zoo_app.command("ship")
def zoo_ship(folder: Annotated[Path, typer.Argument(help="Zoo folder (with zoo.json).")]) -> None:
    """Rewrite the showcase variants' seed-0 weights as float16 for shipping (after `zoo evaluate`)."""
    from latentatlas.store.zoo import ZooError, ship_showcases

    try:
        shipped = ship_showcases(folder)
    except ZooError as error:
        fail(error)
    typer.echo(json.dumps({"float16": shipped}))
