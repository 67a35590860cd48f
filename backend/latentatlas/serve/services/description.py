"""What the server says about a model without running it: its config, its card and what the
family declares, read from the folder's small files (``config.json``, ``card.json``) and, for
models with codes, the codebooks tensor alone from the weights file. The model list, a model's
detail and the held-out comparisons between models come from here, so listing the models loads
no weights."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import safe_open

from latentatlas.evaluation.dim_names import COLLAPSED_POSTERIOR_SD, DIM_NAME_MIN_NMI, collapsed_dims
from latentatlas.evaluation.ordered_latents import CURVE_POINTS, log_keep_grid, slider_keep_grid
from latentatlas.families import Capabilities, get_family
from latentatlas.serve.schemas import DimName, HeldOutCurves, ModelDetail, ModelInfo, ModelMetrics
from latentatlas.serve.services.card import CardFacts, sanitize_card
from latentatlas.store.folders import CARD_FILE, PROBE_FILE, WEIGHTS_FILE, FolderConfig, read_folder_config

if TYPE_CHECKING:
    from latentatlas.data.base import ImageDataset
    from latentatlas.store.folders import LoadedModel


def with_folder_additions(capabilities: Capabilities, folder: Path | None) -> Capabilities:
    """A model's capabilities with what its folder adds to the family's: a probe decoder trained on
    its frozen representation (``probe_decoder.safetensors``, :mod:`latentatlas.store.probe_decoder`)."""
    if folder is not None and (Path(folder) / PROBE_FILE).is_file():
        return capabilities.model_copy(update={"probe_decoder": True})
    return capabilities


DEFAULT_TRAVERSE_DIMS = 16
"""Rows a traversal shows by default (the API's and the app's): every dimension of a small latent."""


def default_traverse_dims(latent_std: np.ndarray, ordered: bool) -> list[int]:
    """The dims a traversal sweeps unless asked for others, at most :data:`DEFAULT_TRAVERSE_DIMS`:
    every dim of a small latent; an ordered model's leading (most important) ones; otherwise the
    most variable ones (largest latent sd on the training data, e.g. a contrastive backbone's
    hundreds), in index order."""
    dim = len(latent_std)
    if dim <= DEFAULT_TRAVERSE_DIMS or ordered:
        return list(range(min(dim, DEFAULT_TRAVERSE_DIMS)))
    return sorted(int(d) for d in np.argsort(-latent_std, kind="stable")[:DEFAULT_TRAVERSE_DIMS])


class ModelDescription:
    """A model as the API describes it: id, configs, (sanitised) card, capabilities, latent
    statistics, codebooks and the ensemble it belongs to."""

    def __init__(
        self,
        model_id: str,
        config: FolderConfig,
        card: Any,
        codebooks: list[list[float]] | None,
        ensemble: str | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        self.id = model_id
        self.folder_config = config
        self.config = config.model
        self.card = sanitize_card(model_id, card, config.model.latent_dim)
        self.codebooks = codebooks
        self.ensemble = ensemble
        self.capabilities: Capabilities = capabilities or config.model.declared_capabilities()
        self.truncation_fill = config.model.truncation_fill if self.capabilities.ordered else None
        stats = self.card.get("latent_stats", {})
        dim = config.model.latent_dim
        self.latent_mean = np.asarray(stats.get("mean", [0.0] * dim), dtype=np.float64)
        self.latent_std = np.asarray(stats.get("std", [1.0] * dim), dtype=np.float64)
        self.latent_min = stats.get("min", list(self.latent_mean - 3 * self.latent_std))
        self.latent_max = stats.get("max", list(self.latent_mean + 3 * self.latent_std))
        self.posterior_scale = stats.get("posterior_scale")
        self.traverse_dims = default_traverse_dims(self.latent_std, self.capabilities.ordered)
        self._facts: CardFacts | None = None

    @classmethod
    def of_folder(cls, model_id: str, folder: Path, ensemble: str | None = None) -> ModelDescription:
        """Read ``folder``'s config and card, and its codebooks (one tensor of the weights file, by
        the name the family declares); raises ValueError/OSError for broken or missing files.
        Builds no model (and imports no torch)."""
        config = read_folder_config(folder)
        card_path = folder / CARD_FILE
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        capabilities = config.model.declared_capabilities()
        codebooks = None
        if capabilities.codes and config.model.codebook_weights is not None:
            with safe_open(str(folder / WEIGHTS_FILE), framework="numpy") as weights:
                codebooks = weights.get_tensor(config.model.codebook_weights).astype(np.float32).tolist()
        return cls(model_id, config, card, codebooks, ensemble, with_folder_additions(capabilities, folder))

    @classmethod
    def of_loaded(cls, model_id: str, loaded: LoadedModel, ensemble: str | None = None) -> ModelDescription:
        """The description of a model already in memory (its codebooks read from the model)."""
        from latentatlas.families.base import DiscreteCodes  # a loaded model: torch is in already

        model = loaded.model
        codebooks = model.codebooks().cpu().tolist() if isinstance(model, DiscreteCodes) else None
        return cls(
            model_id,
            loaded.config,
            loaded.card,
            codebooks,
            ensemble,
            with_folder_additions(model.capabilities, loaded.folder),
        )

    # -- the card's derived facts ------------------------------------------------------------
    def card_facts(self) -> CardFacts:
        """The metrics and dim names of the card, derived once per card."""
        facts = self._facts
        if facts is None or facts.card is not self.card:
            self._facts = facts = CardFacts.of(self.id, self.card, self.posterior_scale)
        return facts

    def metrics(self) -> ModelMetrics | None:
        """The card's metrics; None when not computed yet, or unreadable (logged)."""
        return self.card_facts().metrics

    def dim_names(self) -> list[DimName | None] | None:
        """Per dim (of those the metrics cover), its factor where the server names it (:mod:`~latentatlas.evaluation.dim_names`)."""
        return self.card_facts().dim_names

    # -- the API's views -----------------------------------------------------------------------
    def info(self, dataset: ImageDataset | None = None) -> ModelInfo:
        """The model list's entry. What training recorded of the data (``card["dataset"]``), else
        ``dataset``'s own description when it is at hand (it is never loaded for this)."""
        net, card = self.config.net, self.card
        described = card.get("dataset") or (dataset.describe() if dataset is not None else {})
        facts = self.card_facts()
        return ModelInfo(
            id=self.id,
            kind=self.config.kind,
            dataset=self.folder_config.dataset.name,
            dataset_size=described.get("size"),
            image_size=net.image_size,
            channels=net.channels,
            latent_dim=self.config.latent_dim,
            factor_names=described.get("factor_names", []),
            factor_sizes=described.get("factor_sizes", []),
            codebooks=self.codebooks,
            latent_mean=self.latent_mean.tolist(),
            latent_std=self.latent_std.tolist(),
            latent_min=list(self.latent_min),
            latent_max=list(self.latent_max),
            posterior_scale=self.posterior_scale,
            dim_names=facts.dim_names,
            dim_name_threshold=DIM_NAME_MIN_NMI,
            dim_inactive=collapsed_dims(self.posterior_scale) if self.posterior_scale else None,
            collapsed_posterior_sd=COLLAPSED_POSTERIOR_SD,
            heldout=card.get("heldout", {}),
            steps=card.get("steps"),
            metrics=facts.metrics,
            family=get_family(self.config.kind).summary,
            capabilities=self.capabilities,
            ensemble=self.ensemble,
            truncation_fill=self.truncation_fill,
            traverse_dims=self.traverse_dims,
            **self._keep_grids(card),
        )

    def _keep_grids(self, card: dict[str, Any]) -> dict[str, list[int] | None]:
        """An ordered model's slider and curve C values (:mod:`~latentatlas.evaluation.ordered_latents`)."""
        if not self.capabilities.ordered:
            return {"keep_grid": None, "curve_keep_grid": None}
        dim = self.config.latent_dim
        card_keeps = ((card.get("flow") or {}).get("truncation") or {}).get("keep") or []
        return {"keep_grid": slider_keep_grid(dim, card_keeps), "curve_keep_grid": log_keep_grid(dim, CURVE_POINTS)}

    def detail(self, peers: Iterable[ModelDescription] = (), dataset: ImageDataset | None = None) -> ModelDetail:
        """The model with its card, and the held-out curves of ``peers`` comparable with its own."""
        card = self.card
        summary = {k: v for k, v in card.items() if k not in ("curves", "latent_stats", "metrics")}
        curves = [curves for peer in peers if (curves := self.held_out_peer(peer)) is not None]
        return ModelDetail(**self.info(dataset).model_dump(), curves=card.get("curves", {}), card=summary, peers=curves)

    def held_out_peer(self, other: ModelDescription) -> HeldOutCurves | None:
        """``other``'s card flow curves when both models have ordered latents, were trained on the
        same data and were evaluated on the same held-out images; else None."""
        mine, theirs = self.card.get("flow") or {}, other.card.get("flow") or {}
        comparable = (
            other.id != self.id
            and self.capabilities.ordered
            and other.capabilities.ordered
            and self.folder_config.dataset == other.folder_config.dataset
            and mine.get("images") == theirs.get("images")
            and theirs.get("truncation", {}).get("psnr")
        )
        if not comparable:
            return None
        here, there = self.config.model_dump(), other.config.model_dump()
        differs = [
            f"{key} {there[key]} (here {here[key]})"
            for key in there
            if key in here and there[key] != here[key] and key != "net"
        ]
        if there["net"] != here["net"]:
            differs.append("network")
        return HeldOutCurves(
            id=other.id,
            differs=", ".join(differs) or "same config",
            bits_per_dim=theirs.get("bits_per_dim"),
            truncation=theirs["truncation"],
            denoise=theirs.get("denoise", {}),
        )
