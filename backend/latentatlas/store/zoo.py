"""Model zoos on disk: the typed zoo config (families x hyper-parameters x seeds x datasets, the
evaluation protocol and the claims to test) and ``zoo.json``, its manifest.

A zoo folder holds ``zoo.json`` (the config and per member its status and timings), one
ordinary model folder per member at ``DATASET/VARIANT-seedS`` (config, weights, card; the card's
``"zoo"`` entry says which member it is and, after ``zoo evaluate``, holds its scores with their
null and ceiling), ``DATASET/ceiling.json`` (the perfect-latents scores of the dataset's
samples) and the comparison tables ``table.md`` and ``table.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import FamilyConfig, get_family, model_config
from latentatlas.families.configs import TrainConfig
from latentatlas.metrics.catalogue import metrics_from
from latentatlas.nets.config import NetConfig
from latentatlas.store.folders import WEIGHTS_FILE, read_manifest_json, ship_float16, write_json

MANIFEST_FILE = "zoo.json"
CEILING_FILE = "ceiling.json"
TABLE_MD, TABLE_JSON = "table.md", "table.json"
MANIFEST_VERSION = 1
_CLAIMS_FIELDS = ("claims", "equivalence_bounds", "null_tests", "score_claims")

# Metrics the evaluation protocol can score: the catalogue's latents metrics (``compute_metrics``
# names); its default is those the catalogue puts in the zoo (exact DCI fits minutes of trees per
# member and null repeat, so dci_fast stands in, labelled an estimate).
ZOO_METRICS = tuple(entry.name for entry in metrics_from("latents"))


class ZooError(RuntimeError):
    """The zoo cannot be run as asked (message says why)."""


class ZooDataset(BaseModel):
    """One dataset of the zoo, with the networks every member shares on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["dsprites", "shapes3d"]
    image_size: int = Field(32, description="square image size (a power of two)")
    widths: tuple[int, ...] = Field((16, 32, 64), description="conv widths, one per stride-2 layer")
    latent_dim: int | None = Field(None, ge=1, description="default: the family's (twice the factors)")

    def spec(self) -> DatasetSpec:
        return DatasetSpec(name=self.name, image_size=self.image_size)


class ZooVariant(BaseModel):
    """A family with fixed options: ``{"name": "vae-b4", "kind": "vae", "options": {"beta": 4}}``.
    ``train`` overrides run options (``{"weight_decay": 0}``) over the family's train_defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.+_-]*$")
    kind: str
    options: dict[str, Any] = {}
    train: dict[str, Any] = {}
    datasets: tuple[str, ...] | None = Field(None, description="datasets it runs on (default: all)")
    showcase: bool = Field(False, description="ship this variant's seed-0 weights (fp16) with the zoo")

    @model_validator(mode="after")
    def _valid(self) -> ZooVariant:
        family = get_family(self.kind)
        unknown = sorted(set(self.options) - set(family.config.model_fields))
        if unknown:
            raise ValueError(f"variant {self.name}: {self.kind} has no option(s) {', '.join(unknown)}")
        TrainConfig(**self.train)
        return self


DEFAULT_EQUIVALENCE_BOUND = 0.05
"""The equivalence bound of a claim that states none, in the scores' units (all in [0, 1]): a
twentieth of the scale (docs/zoo.md says why)."""


class ZooClaim(BaseModel):
    """A claimed difference to test on every dataset both variants ran on: ``better`` scores
    higher than ``than`` on each of ``metrics`` (flat score names, e.g. ``infomec.infom``); the
    same pair is also tested for equivalence within ``equivalence_bound`` (TOST)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    better: str
    than: str
    metrics: tuple[str, ...]
    source: str = Field("", description="who claims it")
    equivalence_bound: float | None = Field(
        None,
        gt=0,
        description="|difference| within which the two count as equivalent, for every metric of the claim "
        "(default: the config's equivalence_bounds for the metric, else DEFAULT_EQUIVALENCE_BOUND)",
    )


class ZooScoreClaim(BaseModel):
    """A claimed difference between two scores of the same members, on every dataset ``variant``
    ran on: its ``higher`` score exceeds its ``lower`` one (e.g. Cao et al.'s top-k MED above
    full-dimension MED); tested paired over seeds (each seed's two scores are one pair)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: str
    higher: str = Field(description="flat score name, e.g. med.top1.disentanglement")
    lower: str = Field(description="flat score name, e.g. med.disentanglement")
    source: str = Field("", description="who claims it")


class ZooProtocol(BaseModel):
    """One evaluation protocol for every member: the same factor samples per dataset, the same
    metrics and estimators (InfoMEC's continuous k-NN estimator on every latent; its discrete
    plug-in estimator as an extra ``infomec_codes`` score where a model has codes), the null's
    repeats."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int = Field(5000, ge=30, description="factor samples rendered and encoded (2/3 train, 1/3 test)")
    seed: int = 0
    metrics: tuple[str, ...] = Field(
        tuple(entry.name for entry in metrics_from("latents") if entry.zoo),
        description=f"from {', '.join(ZOO_METRICS)}",
    )
    null_repeats: int = Field(3, ge=1, description="shuffled-rows permutations per member")

    @field_validator("metrics")
    @classmethod
    def _known(cls, metrics: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(metrics) - set(ZOO_METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(ZOO_METRICS)}")
        return metrics


class ZooConfig(BaseModel):
    """Everything that defines a zoo: variants x seeds x datasets, one run config, the protocol."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    datasets: tuple[ZooDataset, ...]
    variants: tuple[ZooVariant, ...]
    seeds: int = Field(5, ge=1, description="seeds 0 .. seeds - 1 of every variant")
    train: TrainConfig = TrainConfig(steps=1000, threads=1, device="cpu", checkpoint_every=250)
    evaluation: ZooProtocol = ZooProtocol()
    claims: tuple[ZooClaim, ...] = ()
    equivalence_bounds: dict[str, float] = Field(
        {}, description="per score: the equivalence bound of the claims on it that state none"
    )
    null_tests: tuple[str, ...] | None = Field(
        None,
        description="scores every variant is tested against its own null (default: the claims' metrics, and on "
        "models with codes their codes estimator's variants, e.g. infomec_codes.infom beside infomec.infom)",
    )
    score_claims: tuple[ZooScoreClaim, ...] = ()
    paper_samples: int = Field(
        200_000 * 128, description="training images the papers' models saw (Hsu et al.: 200k x 128)"
    )
    paper_budget: str = Field("Hsu et al.: 200k x 128", description="whose budget paper_samples is, and how it counts")

    @model_validator(mode="after")
    def _consistent(self) -> ZooConfig:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be distinct, got {names}")
        datasets = {d.name for d in self.datasets}
        for variant in self.variants:
            if variant.datasets and not set(variant.datasets) <= datasets:
                raise ValueError(
                    f"variant {variant.name} names datasets not in the zoo: {sorted(set(variant.datasets) - datasets)}"
                )
        for claim in self.claims:
            if not {claim.better, claim.than} <= set(names):
                raise ValueError(f"claim {claim.better} > {claim.than} names an unknown variant")
        bad = {name: bound for name, bound in self.equivalence_bounds.items() if not bound > 0}
        if bad:
            raise ValueError(f"equivalence bounds must be > 0, got {bad}")
        for score_claim in self.score_claims:
            if score_claim.variant not in names:
                raise ValueError(f"score claim on {score_claim.variant} names an unknown variant")
        return self

    def equivalence_bound(self, claim: ZooClaim, metric: str) -> tuple[float, str]:
        """The bound of ``claim`` on ``metric`` and where it is stated: ``claim``, ``config``
        (``equivalence_bounds``) or ``default``."""
        if claim.equivalence_bound is not None:
            return claim.equivalence_bound, "claim"
        if metric in self.equivalence_bounds:
            return self.equivalence_bounds[metric], "config"
        return DEFAULT_EQUIVALENCE_BOUND, "default"

    def null_test_scores(self, variant: str) -> tuple[str, ...]:
        """The scores ``variant`` is tested against its own null: ``null_tests`` or the claims'
        metrics in order, with the codes estimator's variant of each (the catalogue's ``codes``
        metrics' ``variant_of``) after it; codes scores only for a family with codes."""
        declared = self.null_tests or tuple(dict.fromkeys(m for claim in self.claims for m in claim.metrics))
        has_codes = get_family(self.variant(variant).kind).capabilities.codes
        on_codes = {entry.variant_of: entry.name for entry in metrics_from("codes") if entry.variant_of}
        wanted: list[str] = []
        for name in declared:
            metric, _, key = name.partition(".")
            wanted += [name, f"{on_codes[metric]}.{key}"] if metric in on_codes and not self.null_tests else [name]
        codes_metrics = set(on_codes.values())
        return tuple(dict.fromkeys(n for n in wanted if has_codes or n.partition(".")[0] not in codes_metrics))

    def claims_digest(self) -> str:
        """12 hex digits of the SHA-256 of what fixes the tests (claims, bounds, null tests): the
        Holm families' identity."""
        stated = self.model_dump(mode="json", include=set(_CLAIMS_FIELDS))
        if not self.score_claims:  # the digest of a claims file without them stays what it was
            del stated["score_claims"]
        return hashlib.sha256(json.dumps(stated, sort_keys=True).encode()).hexdigest()[:12]

    def variant(self, name: str) -> ZooVariant:
        return next(v for v in self.variants if v.name == name)

    def dataset(self, name: str) -> ZooDataset:
        return next(d for d in self.datasets if d.name == name)

    def members(self) -> list[dict[str, Any]]:
        """``{"name": "dsprites/vae-b4-seed2", "dataset", "variant", "seed"}`` for every member,
        datasets outer, variants, seeds inner."""
        return [
            {"name": f"{d.name}/{v.name}-seed{seed}", "dataset": d.name, "variant": v.name, "seed": seed}
            for d in self.datasets
            for v in self.variants
            if v.datasets is None or d.name in v.datasets
            for seed in range(self.seeds)
        ]

    def member_run(self, dataset: str, variant: str, seed: int) -> tuple[FamilyConfig, DatasetSpec, TrainConfig]:
        """The model config, data and run of one member: the zoo's run, the family's
        train_defaults, the variant's overrides, the member's seed."""
        d, v = self.dataset(dataset), self.variant(variant)
        family = get_family(v.kind)
        data = load_dataset(d.spec())
        net = NetConfig(image_size=d.image_size, channels=data.channels, widths=d.widths)
        latent_dim = d.latent_dim or family.config.default_latent_dim(net, len(data.factor_sizes))
        config = model_config(kind=v.kind, latent_dim=latent_dim, net=net, **v.options)
        run = self.train.model_copy(update={**family.config.train_defaults, **v.train, "seed": seed})
        return config, d.spec(), TrainConfig.model_validate(run.model_dump())


def read_zoo_config(path: Path) -> ZooConfig:
    """A zoo config from a JSON file."""
    try:
        return ZooConfig.model_validate_json(Path(path).read_text())
    except OSError as error:
        raise ZooError(f"cannot read the zoo config {path}: {error}") from error


def read_manifest(out: Path) -> dict[str, Any]:
    return read_manifest_json(out, MANIFEST_FILE, ZooError, "a zoo")


def register_claims(out: Path, config: ZooConfig) -> None:
    """Write the claims, equivalence bounds and null tests of ``config`` (a claims file: the zoo's
    config with its tests stated) into the zoo's ``zoo.json``, whose members it must otherwise
    define exactly (datasets, variants, seeds, training, protocol); a ZooError names what differs."""
    manifest = read_manifest(Path(out))
    current = ZooConfig.model_validate(manifest["config"])
    differ = [
        name
        for name in ZooConfig.model_fields
        if name not in _CLAIMS_FIELDS and getattr(current, name) != getattr(config, name)
    ]
    if differ:
        raise ZooError(f"the claims file defines other members than {out}: its {', '.join(differ)} differ")
    manifest["config"] = config.model_dump(mode="json")
    write_json(Path(out) / MANIFEST_FILE, manifest)


def ship_showcases(out: Path) -> list[str]:
    """Rewrite the weights of the showcase variants' seed-0 members as float16 (the form the
    zoo ships them in; every other member retrains deterministically from ``zoo.json``) and
    note it in their cards. Returns the members rewritten."""
    out = Path(out)
    config = ZooConfig.model_validate(read_manifest(out)["config"])
    showcases = {v.name for v in config.variants if v.showcase}
    shipped = []
    for member in config.members():
        folder = out / member["name"]
        if member["variant"] not in showcases or member["seed"] != 0 or not (folder / WEIGHTS_FILE).is_file():
            continue
        ship_float16(folder, "zoo")
        shipped.append(member["name"])
    return shipped
