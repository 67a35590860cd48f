"""What every command shares: the app, dataset names, and how a command fails."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import NoReturn

import typer

app = typer.Typer(help="Latent Atlas: train and explore disentangled representation models.", no_args_is_help=True)


class DatasetName(str, Enum):
    dsprites = "dsprites"
    shapes3d = "shapes3d"
    mpi3d = "mpi3d"
    celeba = "celeba"
    folder = "folder"


def fail(error: Exception) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with status 2 (no traceback)."""
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2) from error


def require_model_folder(folder: Path) -> None:
    """A usage error unless ``folder`` holds a model's config.json."""
    if not (folder / "config.json").is_file():
        raise typer.BadParameter(f"{folder} is not a model folder (no config.json)")
