"""Metrics of a set of latents: load and check the input, compute, format."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from latentatlas.metrics.catalogue import CATALOGUE, metric
from latentatlas.metrics.computations import Split

# What compute_metrics computes on arrays: the catalogue's latents and codes entries, in its order.
METRIC_NAMES = tuple(entry.name for entry in CATALOGUE if entry.source != "interventions")
# Those that run unless others are asked for. Exact DCI fits 100 x (number of classes) trees per
# factor, minutes on 10k rows, so it runs only when asked for; dci_fast (an estimate of DCI from
# histogram gradient boosting, 0.01-0.06 above exact DCI on trained models and wrong on duplicated
# latents) stands in by default, always labelled as an estimate.
DEFAULT_METRICS = tuple(name for name in METRIC_NAMES if metric(name).default)


class MetricsInputError(ValueError):
    """The latents / factors given to the metrics are unusable (message says why)."""


def default_train_rows(n_rows: int) -> int:
    """ceil(2/3 of the rows): disentanglement_lib's split_train_test default."""
    return -(-2 * n_rows // 3)


def load_metrics_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Read ``z`` (N, D) float, ``y`` (N, K) int and optional ``train_rows`` from an .npz.

    The first ``train_rows`` rows are the train split, the rest the test split
    (default: two thirds).  Returns validated (z float64, y int64, train_rows);
    raises MetricsInputError on anything unusable.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise MetricsInputError(f"{path}: cannot read as an .npz archive ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise MetricsInputError(f"{path}: expected an .npz archive holding arrays 'z' and 'y', got a single array")
    with archive:
        missing = [name for name in ("z", "y") if name not in archive.files]
        if missing:
            raise MetricsInputError(
                f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(archive.files) or 'none'}"
            )
        train_rows = archive["train_rows"] if "train_rows" in archive.files else None
        return validate_inputs(archive["z"], archive["y"], train_rows)


def validate_inputs(
    z: np.ndarray, y: np.ndarray, train_rows: int | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Check shapes, values and the split; return (z float64, y int64, train_rows)."""
    z = np.asarray(z)
    y = np.asarray(y)
    if z.ndim != 2:
        raise MetricsInputError(f"z must be 2-D (N samples x D latents), got shape {z.shape}")
    if y.ndim != 2:
        raise MetricsInputError(f"y must be 2-D (N samples x K factors), got shape {y.shape}")
    if z.shape[0] != y.shape[0]:
        raise MetricsInputError(f"z has {z.shape[0]} rows but y has {y.shape[0]}; they must match")
    if z.shape[1] < 2:
        raise MetricsInputError(f"need at least 2 latent dimensions, z has {z.shape[1]}")
    if y.shape[1] < 2:
        raise MetricsInputError(f"need at least 2 factors, y has {y.shape[1]}")
    if not (np.issubdtype(z.dtype, np.integer) or np.issubdtype(z.dtype, np.floating)):
        raise MetricsInputError(f"z must be numeric, got dtype {z.dtype}")
    z = z.astype(np.float64)
    if not np.isfinite(z).all():
        bad = np.argwhere(~np.isfinite(z))[0]
        raise MetricsInputError(f"z contains NaN or inf (first at row {bad[0]}, latent {bad[1]})")
    y = _integer_labels(y)

    n_rows = z.shape[0]
    train_rows = default_train_rows(n_rows) if train_rows is None else _integer_scalar(train_rows)
    if not 2 <= train_rows <= n_rows - 1:
        raise MetricsInputError(
            f"train_rows must leave at least 2 train rows and 1 test row, got {train_rows} of {n_rows} rows"
        )
    for k in range(y.shape[1]):
        if np.unique(y[:train_rows, k]).size < 2:
            raise MetricsInputError(f"factor {k} takes a single value on the train rows; every factor must vary")
    return z, y, train_rows


def _integer_labels(y: np.ndarray) -> np.ndarray:
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        return y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.floating):
        raise MetricsInputError(f"y must hold integer factor labels, got dtype {y.dtype}")
    if not np.isfinite(y).all():
        raise MetricsInputError("y contains NaN or inf")
    if not np.array_equal(y, np.round(y)):
        raise MetricsInputError("y must hold integer factor labels, got non-integer values")
    return y.astype(np.int64)


def _integer_scalar(value: int | np.ndarray) -> int:
    array = np.asarray(value)
    if array.size != 1 or not np.issubdtype(array.dtype, np.integer):
        raise MetricsInputError(f"train_rows must be a single integer, got {array!r}")
    return int(array.reshape(()))


def compute_metrics(
    z: np.ndarray,
    y: np.ndarray,
    train_rows: int | np.ndarray | None = None,
    metrics: Iterable[str] | str | None = None,
    discrete_latents: bool = False,
    seed: int = 0,
    *,
    n_jobs: int = 2,
    with_matrices: bool = False,
    on_progress: Callable[[float], None] | None = None,
    med_topk: Iterable[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Compute the requested metrics (names of the catalogue's latents and codes entries,
    METRIC_NAMES; default DEFAULT_METRICS) as a JSON-able dict, each by its catalogue entry's
    compute function, in catalogue order.

    Rows [:train_rows] are the train split, the rest the test split.  MIG,
    modularity and InfoMEC use the train rows; DCI, SAP and explicitness train
    on them and also score the test rows.  ``discrete_latents`` selects
    InfoMEC's plug-in estimator (quantised codes; ``infomec_codes`` always uses it); ``seed`` seeds DCI's tree
    randomness and InfoMEC's kNN jitter; ``n_jobs`` the exact DCI processes.

    ``with_matrices`` adds a ``"matrices"`` entry (nested lists) with what the
    scores were computed from, for the metrics requested: ``mig_mutual_info``
    (D, K) nats (MIG's 20-bin plug-in MI), ``dci_importance`` (D, K) (exact
    DCI's when "dci" was requested, else dci_fast's), ``infomec_nmi`` (K, D)
    I(s_i; z_j) / H(s_i) and ``infomec_active`` (D,) bool.
    ``med_topk`` adds MED over each factor's k most informative latents for every k given
    (``"top<k>"`` under ``"med"``); None (the default) gives the ones cards report
    (``med.REPORTED_TOPK``), ``()`` none. ``should_stop`` (picklable) ends exact DCI's fits
    within a boosting stage once it is True (:class:`~latentatlas.stopping.Stopped` is raised).
    """
    z, y, train_rows = validate_inputs(z, y, train_rows)
    names = _requested(metrics)
    split = Split(
        z[:train_rows],
        y[:train_rows],
        z[train_rows:],
        y[train_rows:],
        seed,
        n_jobs,
        discrete_latents,
        on_progress,
        None if med_topk is None else tuple(med_topk),
        should_stop,
    )
    result: dict[str, Any] = {}
    matrices: dict[str, list[Any]] = {}
    for entry in CATALOGUE:
        if entry.name in names:
            values, entry_matrices = entry.compute(split)
            result |= values
            for key, matrix in entry_matrices.items():
                matrices.setdefault(key, matrix)  # the first wins: exact DCI's importances over dci_fast's
    if with_matrices:
        result["matrices"] = matrices
    return result


def _requested(metrics: Iterable[str] | str | None) -> set[str]:
    if metrics is None:
        metrics = DEFAULT_METRICS
    names = {metrics} if isinstance(metrics, str) else set(metrics)
    unknown = sorted(names - set(METRIC_NAMES))
    if unknown:
        raise MetricsInputError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRIC_NAMES)}")
    return names


def format_table(result: dict[str, Any]) -> str:
    """Two-column text table of a compute_metrics result (nested keys dotted, matrices left out)."""
    rows = list(_flatten({_table_name(key): value for key, value in result.items() if key != "matrices"}))
    width = max([len("metric")] + [len(name) for name, _ in rows])
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    lines += [
        f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name:<{width}}  {value}"
        for name, value in rows
    ]
    return "\n".join(lines)


def _table_name(key: str) -> str:
    """A result key as the table shows it: with the catalogue's caveat (dci_fast is never shown as DCI)."""
    caveat = metric(key).caveat if key in METRIC_NAMES else ""
    return f"{key} ({caveat})" if caveat else key


def _flatten(result: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, float]]:
    for key, value in result.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
