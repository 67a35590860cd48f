"""Information fragments of a set of channels: load and check the input, compute, summarise."""

from __future__ import annotations

import os
from typing import Any, TypeAlias

import numpy as np

from latentatlas.fragments.fingerprint import ACTIVE_THRESHOLD_BITS
from latentatlas.fragments.similarity import all_terms, nmi_vi

JsonNumbers: TypeAlias = "list[JsonNumbers] | float | None"
"""Nested lists of numbers as JSON holds them (a NaN or infinity is None)."""


class FragmentsInputError(ValueError):
    """The channel posteriors / factors given to the fragments analysis are unusable (message says why)."""


def load_fragments_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read ``mu`` and ``logvar`` (M channels x N probe points) and optional ``y`` (N x K int).

    Returns validated (mu float64, logvar float64, y int64 or None); raises
    FragmentsInputError on anything unusable.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise FragmentsInputError(f"{path}: cannot read as an .npz archive ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise FragmentsInputError(
            f"{path}: expected an .npz archive holding arrays 'mu' and 'logvar', got a single array"
        )
    with archive:
        missing = [name for name in ("mu", "logvar") if name not in archive.files]
        if missing:
            raise FragmentsInputError(
                f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(archive.files) or 'none'}"
            )
        try:
            y = archive["y"] if "y" in archive.files else None
            return validate_inputs(archive["mu"], archive["logvar"], y)
        except ValueError as exc:  # object arrays refused by allow_pickle=False
            if isinstance(exc, FragmentsInputError):
                raise
            raise FragmentsInputError(f"{path}: unreadable array ({exc})") from exc


def validate_inputs(
    mu: np.ndarray, logvar: np.ndarray, y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check shapes and values; return (mu float64, logvar float64, y int64 or None)."""
    mu, logvar = np.asarray(mu), np.asarray(logvar)
    for name, array in (("mu", mu), ("logvar", logvar)):
        if array.ndim != 2:
            raise FragmentsInputError(f"{name} must be 2-D (M channels x N probe points), got shape {array.shape}")
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise FragmentsInputError(f"{name} must be numeric, got dtype {array.dtype}")
    if mu.shape != logvar.shape:
        raise FragmentsInputError(f"mu has shape {mu.shape} but logvar has {logvar.shape}; they must match")
    if mu.shape[0] < 1 or mu.shape[1] < 2:
        raise FragmentsInputError(f"need at least 1 channel and 2 probe points, got shape {mu.shape}")
    mu, logvar = mu.astype(np.float64), logvar.astype(np.float64)
    for name, array in (("mu", mu), ("logvar", logvar)):
        if not np.isfinite(array).all():
            raise FragmentsInputError(f"{name} contains NaN or infinite values")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2:
            raise FragmentsInputError(f"y must be 2-D (N probe points x K factors), got shape {y.shape}")
        if y.shape[0] != mu.shape[1]:
            raise FragmentsInputError(f"y has {y.shape[0]} rows but mu has {mu.shape[1]} probe points; they must match")
        if np.issubdtype(y.dtype, np.floating):
            if not np.isfinite(y).all():
                raise FragmentsInputError("y contains NaN or infinite values")
            if not np.array_equal(y, np.round(y)):
                raise FragmentsInputError("y must hold integer labels")
        elif not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
            raise FragmentsInputError(f"y must hold integer labels, got dtype {y.dtype}")
        y = y.astype(np.int64)
    return mu, logvar, y


def compute_fragments(mu: np.ndarray, logvar: np.ndarray, y: np.ndarray | None = None) -> dict[str, list[JsonNumbers]]:
    """JSON-able fragments analysis: info_bits [M], info_self_joint_bits [M], nmi and vi
    [M x M]; with ``y`` also nmi_factor, vi_factor [M x K] and factor_info_bits [K].

    Names match the fixture's expected JSON.  A channel with no information has NMI 0
    with everything (``similarity.NO_INFORMATION_BITS``).
    """
    mu, logvar, y = validate_inputs(mu, logvar, y)
    terms = all_terms(mu, logvar, y)
    info, self_joint = terms["info"], terms["self_joint"]
    nmi, vi = nmi_vi(info, self_joint, info, self_joint, terms["joint"])
    np.fill_diagonal(nmi, 1.0)
    np.fill_diagonal(vi, 0.0)
    result = {
        "info_bits": info,
        "info_self_joint_bits": self_joint,
        "active": info >= ACTIVE_THRESHOLD_BITS,
        "nmi": nmi,
        "vi": vi,
    }
    if y is not None:
        result["nmi_factor"], result["vi_factor"] = nmi_vi(
            info, self_joint, terms["factor_info"], terms["factor_self_joint"], terms["factor_joint"]
        )
        result["factor_info_bits"] = terms["factor_info"]
    return {name: _jsonable(value) for name, value in result.items()}


def format_summary(result: dict[str, list[JsonNumbers]]) -> str:
    """A short human summary of compute_fragments' output."""
    info = np.asarray(result["info_bits"], dtype=np.float64)
    active = np.asarray(result["active"], dtype=bool)
    nmi = np.array(result["nmi"], dtype=np.float64)
    lines = [
        f"{info.size} channels, {int(active.sum())} active (>= {ACTIVE_THRESHOLD_BITS} bits); "
        f"information {info.min():.3f} to {info.max():.3f} bits, total {info.sum():.3f}",
    ]
    if active.sum() >= 2:
        sub = nmi[np.ix_(active, active)]
        off = sub[~np.eye(sub.shape[0], dtype=bool)]
        lines.append(
            f"NMI between active channels: mean {np.nanmean(off):.3f}, max {np.nanmax(off):.3f}; "
            f"pairs with NMI > 0.5: {int(np.sum(off > 0.5) // 2)}"
        )
    if "nmi_factor" in result:
        nmi_factor = np.array(result["nmi_factor"], dtype=np.float64)
        for f in range(nmi_factor.shape[1]):
            column = np.nan_to_num(nmi_factor[:, f], nan=-np.inf)
            best = int(np.argmax(column))
            lines.append(
                f"factor {f}: {result['factor_info_bits'][f]:.3f} bits; best channel {best} (NMI {column[best]:.3f})"
            )
    return "\n".join(lines)


def _jsonable(value: np.ndarray) -> list[JsonNumbers]:
    """Nested lists of ``value`` (at least 1-D), NaN and infinities as None (walked only when present)."""
    items: list[Any] = value.tolist()
    if value.dtype == bool or np.isfinite(value).all():
        return items
    return [_nan_to_none(item) for item in items]


def _nan_to_none(node: list[Any] | float) -> JsonNumbers:
    if isinstance(node, list):
        return [_nan_to_none(item) for item in node]
    return None if isinstance(node, float) and not np.isfinite(node) else float(node)
