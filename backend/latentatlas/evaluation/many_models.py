"""Scoring many model folders at once (``latentatlas evaluate FOLDER... --workers N`` or
``--ray-address ADDRESS``): one job per folder, trained or imported, each writing only its own
card (atomically, under the folder's lock), so a run is resumable: a folder whose card already
holds metrics of the same protocol (samples, seed, votes) is skipped unless ``force``, and a
worker killed mid-run costs only the folders it had not finished (a rerun scores those).

The jobs go through the runner the ensembles and zoos use
(:func:`latentatlas.train.ensemble.dispatch`): spawned local processes, or Ray tasks on a
cluster whose nodes see the folders at the same paths.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from latentatlas.store.folders import CARD_FILE, LoadedModel

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
    from latentatlas.evaluation.disentanglement import EvaluationError, VoteCounts, evaluate_model

    if not loaded.model.capabilities.encode:
        raise EvaluationError(
            f"{loaded.folder} has no encoder to score (saved latents: their card's metrics came with the import)"
        )
    if loaded.model.capabilities.ordered:
        from latentatlas.evaluation.flow import refresh_flow_card

        flow = refresh_flow_card(loaded)
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
    )


def evaluate_folder_job(folder: str, request_json: str) -> dict:
    """One folder's job (module level, for processes and Ray tasks; never raises): under the
    folder's lock, skipped when already scored, else scored into its card."""
    from latentatlas.train.ensemble import run_locked

    return run_locked(folder, Path(folder).name, _evaluate_folder, folder, request_json)


def _evaluate_folder(folder: str, request_json: str) -> dict:
    from latentatlas.devices import resolve_device, set_threads
    from latentatlas.store.folders import load_model_folder

    request = EvaluationRequest.model_validate_json(request_json)
    path = Path(folder)
    card_path = path / CARD_FILE
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    if not request.force and scored_under(card, request):
        return {"status": "skipped", "reason": "already scored under this protocol"}
    set_threads(request.threads)
    started = time.perf_counter()
    loaded = load_model_folder(path, resolve_device(request.device))
    metrics = score_loaded(loaded, request)
    return {
        "status": "done",
        "seconds": round(time.perf_counter() - started, 2),
        "values": metrics["values"],
    }


def evaluate_folders(
    folders: Sequence[Path],
    request: EvaluationRequest,
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    on_result: Callable[[dict], None] = lambda entry: None,
) -> list[dict]:
    """Score every folder (``workers`` local processes, default cores // threads; or Ray tasks on
    ``ray_address``); returns one entry per folder, ``{"folder", "status": done | skipped | failed, ...}``,
    each also passed to ``on_result`` as it finishes."""
    from latentatlas.train.ensemble import dispatch

    entries = [{"folder": str(Path(folder)), "status": "pending"} for folder in folders]
    args = [(entry["folder"], request.model_dump_json()) for entry in entries]

    def finish(entry: dict, result: dict) -> None:
        entry.update(result)
        on_result(entry)

    dispatch(evaluate_folder_job, entries, args, finish, jobs=workers, threads=request.threads, ray_address=ray_address)
    return entries
