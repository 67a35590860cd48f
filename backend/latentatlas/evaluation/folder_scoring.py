"""Scoring one model folder with the ``evaluate`` command's protocol (samples, seed, votes): the
flow section for a model with ordered latents (with MED on all its latents), then every metric
into its card; and whether a
card already holds that protocol's metrics (what makes a many-folder run resumable,
:mod:`latentatlas.train.scoring_runs`)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from latentatlas.store.folders import LoadedModel

Log = Callable[[str], None]


class EvaluationRequest(BaseModel):
    """One protocol for every folder of a run (the ``evaluate`` command's options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int = Field(10_000, ge=30)
    seed: int = 0
    train_votes: int = Field(500, ge=1)
    eval_votes: int = Field(250, ge=1)
    threads: int = Field(2, ge=1, description="torch threads and exact-DCI processes of each job")
    device: str = "auto"
    dci_baselines: bool = False
    leave_out: tuple[str, ...] = Field((), description="catalogue metrics not computed, e.g. dci")
    force: bool = Field(False, description="score again folders already scored under this protocol")


def scored_under(card: dict, request: EvaluationRequest) -> bool:
    """True when ``card`` already holds metrics of ``request``'s protocol."""
    metrics = card.get("metrics") or {}
    votes = metrics.get("votes") or {}
    return (
        bool(metrics.get("values"))
        and metrics.get("samples") == request.samples
        and metrics.get("seed") == request.seed
        and votes.get("train") == request.train_votes
        and votes.get("eval") == request.eval_votes
    )


def score_loaded(loaded: LoadedModel, request: EvaluationRequest, progress=None, log: Log | None = None) -> dict:
    """Score one loaded model into its card: for a model with ordered latents (a flow) first its
    ``flow`` section, then every metric (:func:`evaluate_model`). Returns the ``metrics`` entry."""
    from latentatlas.data.registry import load_dataset
    from latentatlas.evaluation.disentanglement import EvaluationError, VoteCounts, evaluate_model

    if not loaded.model.capabilities.encode:
        raise EvaluationError(
            f"{loaded.folder} has no encoder to score (saved latents: their card's metrics came with the import)"
        )
    encoded = None
    dataset = load_dataset(loaded.config.dataset)  # opened once for the flow section, MED and the metrics
    if loaded.model.capabilities.ordered:
        from latentatlas.data.base import FactorDataset
        from latentatlas.evaluation.disentanglement import encode_protocol_samples
        from latentatlas.evaluation.flow import refresh_flow_card
        from latentatlas.evaluation.flow_med import refresh_flow_med

        flow = refresh_flow_card(loaded, dataset)
        if "med" not in request.leave_out and isinstance(dataset, FactorDataset):
            # every latent of the metrics' own samples, encoded once: MED scores all of them, the metrics the top 2K
            encoded = encode_protocol_samples(loaded, dataset, request.samples, request.seed)
            med = refresh_flow_med(loaded, request.samples, request.seed, request.threads, encoded, dataset)
            if log:
                log(f"{loaded.folder.name}: MED on all {med['latents']} latents, D {med['all']['disentanglement']:.3f}")
        if log:
            log(f"{loaded.folder.name}: bits/dim {flow['bits_per_dim']:.3f}; PSNR by C (EOFlow / PCA):")
            for keep, ours, pca in zip(
                flow["truncation"]["keep"], flow["truncation"]["psnr"], flow["truncation"]["pca_psnr"]
            ):
                log(f"  C={keep:>6}  {ours:6.2f} / {pca:6.2f} dB")
    votes = VoteCounts(train=request.train_votes, eval=request.eval_votes)
    return evaluate_model(
        loaded,
        request.samples,
        request.seed,
        votes,
        progress,
        n_jobs=request.threads,
        dci_baselines=request.dci_baselines,
        leave_out=request.leave_out,
        encoded=encoded,
        dataset=dataset,
    )
