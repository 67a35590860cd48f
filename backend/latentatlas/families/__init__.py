"""The model families and their registry.

Adding a family = one module in this package that defines its config, model and (optionally)
trainer, plus one :func:`register` line in :data:`FAMILY_MODULES` below. Everything else
(``latentatlas train FAMILY``, storage, evaluation, the server and the app) reads the registry
and the declared capabilities.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from latentatlas.families.base import (
    CAPABILITY_MIXINS,
    Capabilities,
    Encoding,
    FamilyConfig,
    GradientTrainer,
    LatentModel,
    Trainer,
)


@dataclass(frozen=True)
class Family:
    """A registered family: its name, one-line summary, config class and model class."""

    kind: str
    summary: str
    config: type[FamilyConfig]
    model: type[LatentModel]

    @property
    def capabilities(self) -> Capabilities:
        return self.model.capabilities


_FAMILIES: dict[str, Family] = {}

# The modules that register families, imported on first use of the registry.
FAMILY_MODULES = (
    "latentatlas.families.qlae",
    "latentatlas.families.autoencoders",
    "latentatlas.families.eoflow",
    "latentatlas.families.strkm",
    "latentatlas.families.qlinfogan",
    "latentatlas.families.factorvae",
    "latentatlas.families.hfs",
    "latentatlas.families.byol",
    "latentatlas.families.simsiam",
    "latentatlas.families.barlow",
    "latentatlas.families.onnx",
    "latentatlas.families.latents",
    "latentatlas.families.python_model",
)


def register(kind: str, summary: str, config: type[FamilyConfig], model: type[LatentModel]) -> None:
    """Register a family; its declared capabilities must match the mixins it implements."""
    declared = model.capabilities
    for capability, mixin in CAPABILITY_MIXINS.items():
        if getattr(declared, capability) != issubclass(model, mixin):
            raise TypeError(
                f"family {kind}: declares {capability}={getattr(declared, capability)} but {model.__name__} "
                f"{'does not implement' if getattr(declared, capability) else 'implements'} {mixin.__name__}"
            )
    if config.model_fields["kind"].default != kind:
        raise TypeError(f"family {kind}: {config.__name__}.kind must default to {kind!r}")
    _FAMILIES[kind] = Family(kind, summary, config, model)


def _load() -> dict[str, Family]:
    """The registry, with every module of FAMILY_MODULES imported (once; a family module
    imported directly before registers only itself)."""
    for module in FAMILY_MODULES:
        importlib.import_module(module)  # cached by Python after the first time
    return _FAMILIES


def families() -> dict[str, Family]:
    """Every registered family by name, in registration order."""
    return dict(_load())


def get_family(kind: str) -> Family:
    registry = _load()
    if kind not in registry:
        raise ValueError(f"unknown model family {kind!r}; known: {', '.join(registry)}")
    return registry[kind]


def model_config(data: dict[str, Any] | FamilyConfig | None = None, /, **fields: Any) -> FamilyConfig:
    """A family's typed config from a dict (``config.json``'s ``model``) or keywords, dispatched
    on ``kind``; raises pydantic's ValidationError (a ValueError) on a bad field."""
    if isinstance(data, FamilyConfig):
        return data
    values = {**(data or {}), **fields}
    return get_family(str(values.get("kind"))).config.model_validate(values)


def build_model(config: FamilyConfig) -> LatentModel:
    return get_family(config.kind).model(config)


__all__ = [
    "Capabilities",
    "Encoding",
    "Family",
    "FamilyConfig",
    "GradientTrainer",
    "LatentModel",
    "Trainer",
    "build_model",
    "families",
    "get_family",
    "model_config",
    "register",
]
