"""Ensemble folders on disk: the typed ensemble config and ``manifest.json`` (per member its
hyper-parameters and status), shared by ``ensemble train``, the analysis and the server.
See :mod:`latentatlas.train.ensemble` for the folder layout.

Members come two ways: trained here (:class:`EnsembleConfig`, ``ensemble train``) or imported as
saved-latents runs from any framework (:class:`ImportedEnsembleConfig`, ``ensemble import``,
:mod:`latentatlas.imports.ensemble`). Both write the same probe files; the analysis and the server
read either through one :class:`EnsembleDesign` (:func:`ensemble_design`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from latentatlas.data.spec import DatasetSpec
from latentatlas.families import FamilyConfig, get_family, model_config
from latentatlas.families.configs import TrainConfig
from latentatlas.nets.config import NetConfig
from latentatlas.store.folders import CARD_FILE, WEIGHTS_FILE, read_manifest_json, ship_float16

MANIFEST_FILE = "manifest.json"
PROBE_FILE = "probe.safetensors"
ANALYSIS_FILE, ARRAYS_FILE, FUSION_FILE = "analysis.json", "analysis.safetensors", "fusion.safetensors"
"""An ensemble's analysis: its JSON, its large M x M matrices, the fused space."""
MANIFEST_VERSION = 1
IMPORTED_KIND: Literal["imported"] = "imported"  # the ``config.kind`` of an ensemble of imported runs
Status = Literal["pending", "running", "done", "failed"]


class EnsembleError(RuntimeError):
    """The ensemble cannot be run as asked (message says why)."""


@dataclass(frozen=True)
class EnsembleDesign:
    """What the analysis and the server read of an ensemble, whichever way its members came.

    ``latent_dims``: each member's latent size (imported runs may differ); ``runs_per_configuration``
    feeds the hotspots' min_samples rule; ``member_files``: the files that make a member finished;
    ``members_decode``: members are model folders with a decoder, served as ``NAME.MEMBER`` (so a
    channel's traversal can be drawn), else ``members_note`` says why not; ``rebuildable``: the
    members' architecture is known (one family config), so untrained copies can be built (the
    hotspots' untrained null)."""

    source: Literal["trained", "imported"]
    kind: str
    dataset: str
    betas: tuple[float, ...]
    runs_per_configuration: int
    latent_dims: dict[str, int]
    member_files: tuple[str, ...]
    members_decode: bool
    rebuildable: bool
    members_note: str | None = None


class EnsembleConfig(BaseModel):
    """Everything that defines an ensemble: one model family on one dataset, betas x seeds."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field("vae", description="member family: one with a Gaussian posterior and a beta option (vae, tcvae)")
    dataset: DatasetSpec = DatasetSpec(name="dsprites")
    net: NetConfig = NetConfig()
    latent_dim: int = Field(10, ge=1, le=512)
    betas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    seeds: int = Field(6, ge=1)  # members use seeds 0 .. seeds - 1
    train: TrainConfig = TrainConfig()
    probe_size: int = Field(1000, ge=2)
    probe_seed: int = 0

    @field_validator("kind")
    @classmethod
    def _posterior_family(cls, kind: str) -> str:
        family = get_family(kind)
        if not family.capabilities.posterior or "beta" not in family.config.model_fields:
            raise ValueError(f"ensemble members need a Gaussian posterior and a beta option; {kind} has not")
        return kind

    @field_validator("betas")
    @classmethod
    def _check_betas(cls, betas: tuple[float, ...]) -> tuple[float, ...]:
        if not betas:
            raise ValueError("give at least one beta")
        if any(b < 0 for b in betas):
            raise ValueError(f"betas must be >= 0, got {list(betas)}")
        if len({member_name(b, 0) for b in betas}) != len(betas):
            raise ValueError(f"betas must be distinct, got {list(betas)}")
        return betas

    def members(self) -> list[tuple[str, float, int]]:
        """(name, beta, seed) for every member, betas outer, seeds inner."""
        return [(member_name(beta, seed), beta, seed) for beta in self.betas for seed in range(self.seeds)]

    def member_model(self, beta: float) -> FamilyConfig:
        return model_config(kind=self.kind, latent_dim=self.latent_dim, net=self.net, beta=beta)

    def identity(self) -> dict[str, Any]:
        """The settings a resumed run must share with the first (betas and seeds may grow)."""
        return self.model_dump(mode="json", exclude={"betas", "seeds"})

    def design(self, members: list[dict[str, Any]]) -> EnsembleDesign:
        return EnsembleDesign(
            source="trained",
            kind=self.kind,
            dataset=self.dataset.name,
            betas=self.betas,
            runs_per_configuration=self.seeds,
            latent_dims={str(entry["name"]): self.latent_dim for entry in members},
            member_files=(WEIGHTS_FILE, CARD_FILE),
            members_decode=True,
            rebuildable=True,
        )


class ImportedEnsembleConfig(BaseModel):
    """An ensemble of saved-latents runs imported from outside (``ensemble import``): one probe
    set (``probe_size`` rows with the same factors in every run), members of any latent size.
    Each manifest member records its ``latent_dim`` and ``source`` (file name, sha256)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["imported"] = IMPORTED_KIND
    dataset: str | None = Field(None, description="the runs' dataset name, when the files gave one")
    probe_size: int = Field(ge=2)
    factor_names: tuple[str, ...] = ()
    probe_rows: Literal["indices", "file order"] = Field(
        "file order", description="how the runs' rows are matched: their dataset indices, or the files' row order"
    )

    def design(self, members: list[dict[str, Any]]) -> EnsembleDesign:
        return EnsembleDesign(
            source="imported",
            kind=self.kind,
            dataset=self.dataset or "imported latents",
            betas=(),
            runs_per_configuration=len(members),  # the runs are one configuration
            latent_dims={str(entry["name"]): int(entry["latent_dim"]) for entry in members},
            member_files=(PROBE_FILE,),
            members_decode=False,
            rebuildable=False,
            members_note="the members are saved latents imported from outside (ensemble import): "
            "there is no decoder to draw a channel's traversal",
        )


def ensemble_design(manifest: dict[str, Any]) -> EnsembleDesign:
    """The design of an ensemble's manifest (its ``config`` chooses trained or imported)."""
    config = manifest["config"]
    kind = ImportedEnsembleConfig if config.get("kind") == IMPORTED_KIND else EnsembleConfig
    members = manifest.get("members")
    if not isinstance(members, list) or not all(isinstance(m, dict) and "name" in m for m in members):
        raise ValueError("manifest.json has no valid 'members' list")
    return kind.model_validate(config).design(members)


def member_name(beta: float, seed: int) -> str:
    """``beta4-seed2``; ``beta0.5-seed0`` for fractional betas."""
    return f"beta{beta:g}-seed{seed}"


def read_manifest(out: Path) -> dict[str, Any]:
    return read_manifest_json(out, MANIFEST_FILE, EnsembleError, "an ensemble")


def ship_members(out: Path) -> list[str]:
    """Rewrite every finished member's weights as float16 for shipping (after ``ensemble
    analyze``: the probe encodings and the analysis stay the float32 ones) and note it in their
    cards. Returns the members rewritten."""
    shipped = []
    for entry in read_manifest(out)["members"]:
        folder = Path(out) / entry["name"]
        if entry.get("status") == "done" and (folder / WEIGHTS_FILE).is_file():
            ship_float16(folder, "ensemble")
            shipped.append(entry["name"])
    return shipped
