"""Scoring many model folders at once (``latentatlas evaluate FOLDER... --workers N`` or
``--ray-address ADDRESS``): one job per folder, trained or imported, each writing only its own
card (atomically, under the folder's lock), so a run is resumable: a folder whose card already
holds metrics of the same protocol (samples, seed, votes) is skipped unless ``force``, and a
worker killed mid-run costs only the folders it had not finished (a rerun scores those).

The jobs go through the runner the ensembles and zoos use (:func:`latentatlas.train.ensemble.dispatch`):
spawned local processes, or Ray tasks on a cluster whose nodes see the folders at the same paths.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from latentatlas.devices import resolve_device, set_threads
from latentatlas.evaluation.folder_scoring import EvaluationRequest, score_loaded, scored_under
from latentatlas.store.folders import CARD_FILE, load_model_folder
from latentatlas.train.ensemble import dispatch, run_locked


def evaluate_folder_job(folder: str, request_json: str) -> dict:
    """One folder's job (module level, for processes and Ray tasks; never raises): under the
    folder's lock, skipped when already scored, else scored into its card."""
    return run_locked(folder, Path(folder).name, _evaluate_folder, folder, request_json)


def _evaluate_folder(folder: str, request_json: str) -> dict:
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
    entries = [{"folder": str(Path(folder)), "status": "pending"} for folder in folders]
    args = [(entry["folder"], request.model_dump_json()) for entry in entries]

    def finish(entry: dict, result: dict) -> None:
        entry.update(result)
        on_result(entry)

    dispatch(evaluate_folder_job, entries, args, finish, jobs=workers, threads=request.threads, ray_address=ray_address)
    return entries
