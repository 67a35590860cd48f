"""A model's disentanglement metrics as a background job's work (:mod:`latentatlas.serve.jobs`
runs it): checked when the job is asked for, run in the job's thread, served from then on."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from latentatlas.data.base import FactorDataset
from latentatlas.errors import InputError
from latentatlas.serve.jobs import JobProgress
from latentatlas.serve.schemas import ModelMetrics
from latentatlas.serve.services.core import ModelService
from latentatlas.store.folders import CARD_FILE

if TYPE_CHECKING:  # the metrics (scikit-learn, seconds to import) load with the first job, not with the server
    from latentatlas.evaluation.disentanglement import VoteCounts

log = logging.getLogger("latentatlas.serve")


def metrics_work(
    service: ModelService, samples: int, seed: int, votes: VoteCounts, n_jobs: int, state_dir: Path | None = None
) -> Callable[[JobProgress], ModelMetrics]:
    """The work of a metrics job: checked now (InputError, 422 without generative factors), run later.

    It encodes with the service's model without its lock (inference is read-only), so live
    decoding stays responsive. The result is served from then on (the in-memory card) and
    written beside the card as ``runs/metrics-<time>.json``, never over the shipped card.json
    (in ``state_dir`` when the models folder is read-only; kept in memory only, logged, when
    neither can be written).
    """
    if not isinstance(service.dataset, FactorDataset):
        raise InputError(f"model {service.id}'s dataset has no generative factors: its metrics cannot be computed")
    loaded = service.loaded

    def work(progress: JobProgress) -> ModelMetrics:
        from latentatlas.evaluation.disentanglement import evaluate_model, save_metrics_run

        metrics = evaluate_model(
            loaded, samples, seed, votes, progress, n_jobs=n_jobs, write_card=False, should_stop=progress.stop
        )
        try:
            path = save_metrics_run(loaded.folder, metrics, state_dir)
            log.info("model %s: metrics run written to %s", service.id, path)
        except OSError as error:
            log.warning("model %s: metrics kept in memory only, not written (%s)", service.id, error)
        # a new card (its facts are derived again), on the description: it outlives the model's eviction
        service.description.card = loaded.card = {**loaded.card, "metrics": metrics}
        return ModelMetrics.model_validate(metrics)

    return work


def restore_shipped_metrics(service: ModelService) -> ModelMetrics | None:
    """Serve the shipped card's metrics again (read from its card.json, which jobs never write),
    dropping a job's from the in-memory card; None when the shipped card has none."""
    loaded = service.loaded
    path = loaded.folder / CARD_FILE
    try:
        shipped = json.loads(path.read_text()).get("metrics") if path.is_file() else None
    except (OSError, ValueError) as error:
        raise InputError(f"model {service.id}'s shipped {CARD_FILE} cannot be read ({error})") from error
    card = {key: value for key, value in loaded.card.items() if key != "metrics"}
    # a new card (its facts are derived again), on the description too: what the model list serves
    service.description.card = loaded.card = card if shipped is None else {**card, "metrics": shipped}
    return ModelMetrics.model_validate(shipped) if shipped is not None else None
