"""The model families and their registry.

Adding a family = its config in :mod:`latentatlas.families.configs` (options, capabilities,
stored files), one module in this package with its model (and optionally its trainer), and one
:class:`Family` line in :data:`FAMILIES` below. Everything else (``latentatlas train FAMILY``,
storage, evaluation, the server and the app) reads the registry and the declared capabilities.

Importing this package imports no torch: the registry holds each family's config and the place
of its model class, which is imported when first asked for (:attr:`Family.model`), so the server
indexes a models folder and the CLI lists the families without loading torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from latentatlas.families.configs import (
    AEConfig,
    BarlowTwinsConfig,
    BYOLConfig,
    Capabilities,
    EOFlowConfig,
    FactorVAEConfig,
    FamilyConfig,
    HFSConfig,
    LatentsConfig,
    OnnxConfig,
    PythonConfig,
    QLAEConfig,
    QLInfoGANConfig,
    SimSiamConfig,
    STRKMConfig,
    TCVAEConfig,
    TrainConfig,
    VAEConfig,
)

if TYPE_CHECKING:
    from latentatlas.families.base import LatentModel


@dataclass(frozen=True)
class Family:
    """A registered family: its name, one-line summary, config class and where its model class
    lives (``module:Class``, imported on first use of :attr:`model`)."""

    kind: str
    summary: str
    config: type[FamilyConfig]
    model_path: str

    def __post_init__(self) -> None:
        if self.config.model_fields["kind"].default != self.kind:
            raise TypeError(f"family {self.kind}: {self.config.__name__}.kind must default to {self.kind!r}")

    @property
    def capabilities(self) -> Capabilities:
        return self.config.capabilities

    @cached_property
    def model(self) -> type[LatentModel]:
        """The model class, imported on first use and kept; its capability mixins must match the
        config's declared capabilities (checked then, once)."""
        from latentatlas.families.base import CAPABILITY_MIXINS

        module_name, class_name = self.model_path.split(":")
        model: type[LatentModel] = getattr(importlib.import_module(module_name), class_name)
        declared = self.config.capabilities
        for capability, mixin in CAPABILITY_MIXINS.items():
            if getattr(declared, capability) != issubclass(model, mixin):
                raise TypeError(
                    f"family {self.kind}: declares {capability}={getattr(declared, capability)} but {model.__name__} "
                    f"{'does not implement' if getattr(declared, capability) else 'implements'} {mixin.__name__}"
                )
        return model


FAMILIES = (
    Family("qlae", "quantised-latent autoencoder (Hsu et al. 2023)", QLAEConfig, "latentatlas.families.qlae:QLAE"),
    Family("ae", "plain autoencoder (baseline)", AEConfig, "latentatlas.families.autoencoders:AE"),
    Family("vae", "beta-VAE (Higgins et al. 2017)", VAEConfig, "latentatlas.families.autoencoders:VAE"),
    Family("tcvae", "beta-TCVAE (Chen et al. 2018)", TCVAEConfig, "latentatlas.families.autoencoders:TCVAE"),
    Family(
        "eoflow",
        "entropy-ordered normalizing flow (Galperin & Koethe 2026)",
        EOFlowConfig,
        "latentatlas.families.eoflow:EOFlow",
    ),
    Family(
        "strkm",
        "Stiefel restricted-kernel-machine autoencoder (Pandey et al. 2022)",
        STRKMConfig,
        "latentatlas.families.strkm:STRKM",
    ),
    Family(
        "qlinfogan",
        "quantised-latent InfoWGAN-GP (Hsu et al. 2023)",
        QLInfoGANConfig,
        "latentatlas.families.qlinfogan:QLInfoGAN",
    ),
    Family("factorvae", "FactorVAE (Kim & Mnih 2018)", FactorVAEConfig, "latentatlas.families.factorvae:FactorVAE"),
    Family(
        "hfs",
        "beta-VAE with Hausdorff factorised support (Roth et al. 2023)",
        HFSConfig,
        "latentatlas.families.hfs:HFS",
    ),
    Family("byol", "BYOL encoder, no decoder (Grill et al. 2020)", BYOLConfig, "latentatlas.families.byol:BYOL"),
    Family(
        "simsiam", "SimSiam encoder, no decoder (Chen & He 2021)", SimSiamConfig, "latentatlas.families.simsiam:SimSiam"
    ),
    Family(
        "barlow",
        "Barlow Twins encoder, no decoder (Zbontar et al. 2021)",
        BarlowTwinsConfig,
        "latentatlas.families.barlow:BarlowTwins",
    ),
    Family(
        "onnx",
        "model imported as ONNX graphs (latentatlas import onnx)",
        OnnxConfig,
        "latentatlas.families.onnx:OnnxModel",
    ),
    Family(
        "latents",
        "saved latents imported from a run elsewhere (latentatlas import latents)",
        LatentsConfig,
        "latentatlas.families.latents:SavedLatents",
    ),
    Family(
        "python",
        "model held in memory by a Python session (latentatlas.explore)",
        PythonConfig,
        "latentatlas.families.python_model:PythonModel",
    ),
)
"""Every family, in the order the CLI and the app list them."""

_BY_KIND = {family.kind: family for family in FAMILIES}


def families() -> dict[str, Family]:
    """Every registered family by name, in registration order."""
    return dict(_BY_KIND)


def get_family(kind: str) -> Family:
    if kind not in _BY_KIND:
        raise ValueError(f"unknown model family {kind!r}; known: {', '.join(_BY_KIND)}")
    return _BY_KIND[kind]


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
    "FAMILIES",
    "Capabilities",
    "Family",
    "FamilyConfig",
    "TrainConfig",
    "build_model",
    "families",
    "get_family",
    "model_config",
]
