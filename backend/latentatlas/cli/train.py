"""``latentatlas train FAMILY``: one command per registered family, its options read from the family's config."""

from __future__ import annotations

import inspect
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, cast

import typer

from latentatlas.cli.common import DatasetName, app

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
        (
            "data_path",
            Path | None,
            None,
            "The official dataset file or folder (dsprites and shapes3d are procedural without one), or an image folder.",
        ),
        (
            "factors",
            Path | None,
            None,
            "With --dataset folder: a CSV of factor labels (a 'file' column, then one column per factor).",
        ),
        ("channels", int, 3, "Image channels for an image folder (1 or 3)."),
        ("image_size", int, 64, "Square image size (a power of two)."),
        (
            "latent_dim",
            int | None,
            None,
            "Latent size (default: twice the number of factors, 10 for folders; a flow's is its pixel count).",
        ),
        ("widths", str, "32,64,64,128", "Conv widths, comma separated, one per stride-2 layer."),
        ("resume", bool, False, "Continue from OUT/checkpoint if present."),
    ]
    params = [
        inspect.Parameter(name, option, default=default, annotation=Annotated[kind, typer.Option(help=text)])
        for name, kind, default, text in spec
    ]
    from latentatlas.families.configs import TrainConfig

    for name, field in TrainConfig.model_fields.items():
        params.append(
            _field_parameter(name, field, f"Run: {field.description}.", train_defaults.get(name, field.default))
        )
    return params


def _field_parameter(name: str, field, help_text: str, default=None) -> inspect.Parameter:
    """A typer option for one pydantic field of a scalar type, optional or not (Literal fields
    become choices)."""
    from types import NoneType, UnionType
    from typing import Literal, Union, get_args, get_origin

    annotation, default = field.annotation, field.default if default is None else default
    if get_origin(annotation) in (Union, UnionType):  # X | None: the option is X, left unset by default
        (inner,) = [arg for arg in get_args(annotation) if arg is not NoneType]
        annotation = inner | None
    if get_origin(annotation) is Literal:  # choices: a str Enum, turned back into its value by the command
        # the functional API makes a class (mypy reads a call of Enum with a computed name as an instance)
        annotation = cast(type[Enum], Enum(f"{name}_choices", {str(c): str(c) for c in get_args(annotation)}, type=str))
        default = annotation(str(default))
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, typer.Option(help=help_text)],
    )


UNLABELLED_FACTORS = 5  # assumed for an unlabelled image folder's default latent size
# Options of FamilyConfig that the shared options set (or training records).
_SHARED_FIELDS = {"kind", "latent_dim", "net", "dataset_size"}


def _train_command(kind: str):
    """``latentatlas train KIND``: the shared options plus the family's own, from its config."""
    from latentatlas.families import get_family

    family = get_family(kind)
    own = {name: field for name, field in family.config.model_fields.items() if name not in _SHARED_FIELDS}
    parameters = _common_train_options(family.config.train_defaults) + [
        _field_parameter(name, field, f"{kind}: {field.description}.") for name, field in own.items()
    ]

    def command(**options) -> None:
        options = {name: value.value if isinstance(value, Enum) else value for name, value in options.items()}
        _run_train(kind, {name: options.pop(name) for name in own}, **options)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # typer reads a set signature
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = f"Train a {family.summary}."
    return command


def _run_train(
    kind: str,
    family_options: dict,
    *,
    out: Path,
    dataset: str,
    data_path: Path | None,
    factors: Path | None,
    channels: int,
    image_size: int,
    latent_dim: int | None,
    widths: str,
    resume: bool,
    **run,
) -> None:
    from latentatlas.data.registry import load_dataset
    from latentatlas.data.spec import DatasetSpec
    from latentatlas.families import build_model, get_family, model_config
    from latentatlas.families.configs import TrainConfig
    from latentatlas.nets import NetConfig
    from latentatlas.train import train as run_training
    from latentatlas.train.loop import training_sampler

    try:
        # Absolute paths: the model folder's config must find its data from any working directory.
        spec = DatasetSpec(
            name=dataset,
            path=str(data_path.resolve()) if data_path else None,
            factors=str(factors.resolve()) if factors else None,
            image_size=image_size,
            channels=channels,
        )
        if dataset == DatasetName.folder.value and (data_path is None or not data_path.is_dir()):
            raise ValueError(f"--dataset folder needs --data-path pointing at a folder of images (got {data_path})")
        data = load_dataset(spec)  # opened once, here, so that a bad file is a usage error
        net = NetConfig(image_size=image_size, channels=data.channels, widths=tuple(int(w) for w in widths.split(",")))
        family = get_family(kind)
        latent_dim = latent_dim or family.config.default_latent_dim(net, len(data.factor_sizes) or UNLABELLED_FACTORS)
        config = model_config(kind=kind, latent_dim=latent_dim, net=net, **family_options)
        build_model(config)  # the network's shape checks, before any data is drawn
        train_config = TrainConfig(**run)
        training_sampler(data, train_config)  # --correlate's factors, checked before anything is written
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    card = run_training(config, spec, train_config, out, resume=resume, dataset=data)
    typer.echo(
        json.dumps(
            {"out": str(out), "steps": card["steps"], "wall_seconds": card["wall_seconds"], "heldout": card["heldout"]}
        )
    )


def _register_train_commands() -> None:
    from latentatlas.families import families

    for kind, family in ((kind, family) for kind, family in families().items() if family.capabilities.train):
        train_app.command(kind, help=f"Train a {family.summary}.")(_train_command(kind))


_register_train_commands()
