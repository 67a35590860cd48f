"""``latentatlas dataset check NAME --data-path PATH``: open a dataset file or folder as training would
and say what it holds, or what is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from latentatlas.cli.common import DatasetName, app, fail

dataset_app = typer.Typer(
    help="Check the field's dataset files and labelled image folders.",
    no_args_is_help=True,
)
app.add_typer(dataset_app, name="dataset")


def dataset_summary(dataset) -> dict:
    """``{"dataset", "images", "image_shape", "factors": [{"name", "size"}]}``; image_shape is (H, W, C) as loaded."""
    return {
        "dataset": dataset.name,
        "images": len(dataset),
        "image_shape": [dataset.image_size, dataset.image_size, dataset.channels],
        "factors": [{"name": name, "size": size} for name, size in zip(dataset.factor_names, dataset.factor_sizes)],
    }


@dataset_app.command("check")
def check(
    name: Annotated[DatasetName, typer.Argument(help="What the file or folder is.")],
    data_path: Annotated[Path, typer.Option(help="The dataset file, or folder (celeba, folder).")],
    factors: Annotated[
        Path | None,
        typer.Option(help="With folder: the factors CSV (a 'file' column, then one column per factor)."),
    ] = None,
    channels: Annotated[int, typer.Option(help="With folder: 1 (greyscale) or 3 (RGB).")] = 3,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Validate a dataset (arrays' shapes and dtypes, factor layout, count, every listed file) and summarise it."""
    from latentatlas.data.registry import load_dataset
    from latentatlas.data.spec import DatasetSpec

    try:
        spec = DatasetSpec(
            name=name.value,
            path=str(data_path),
            factors=str(factors) if factors else None,
            channels=channels,
        )
        summary = dataset_summary(load_dataset(spec))
    except ValueError as error:
        fail(error)
    if json_output:
        typer.echo(json.dumps(summary))
        return
    shape = " x ".join(map(str, summary["image_shape"]))
    typer.echo(f"{data_path}: {summary['dataset']}, {summary['images']:,} images of {shape}")
    for factor in summary["factors"]:
        typer.echo(f"  {factor['name']}: {factor['size']} values")
    if not summary["factors"]:
        typer.echo("  no factors (add --factors CSV to label an image folder)")
