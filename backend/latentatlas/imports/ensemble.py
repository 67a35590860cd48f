"""``latentatlas ensemble import``: saved-latents runs from any framework as one ensemble folder,
which ``ensemble analyze`` and the server's ensemble page read like a trained one (channel
similarity, hotspots and fusion across runs: Murphy, Dillavou & Bassett, TMLR 2025).

Each run is an ``.npz`` read with ``allow_pickle=False``: ``mu`` (N, D) floats (or ``z``, the
same), ``logvar`` (N, D) floats (required: the fragments' Bhattacharyya estimators compare
posteriors N(mu, exp(logvar)), not points), ``y`` (N, K) integer factor indices, optional
``factor_names`` (K strings), ``indices`` (N dataset rows) and ``dataset`` (a name). Every run
must describe the same probe rows: the same N and y, and the same indices, factor names and
dataset where given; D may differ between runs.

Everything is checked before anything is written, and the folder is written under a temporary
name and renamed when complete (:func:`~latentatlas.imports.staging.write_folder`). Its layout is
a trained ensemble's (:mod:`latentatlas.train.ensemble`) without weights: ``manifest.json`` (an
:class:`~latentatlas.store.ensembles.ImportedEnsembleConfig`; per member its name, latent size and
source file's name and sha256), the root ``probe.safetensors`` (``indices``, ``factors``; the
files' row order 0..N-1 when no run gave indices) and per member ``NAME/probe.safetensors``
(``mu``, ``logvar`` float32, ``indices``), the format trained members write.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from latentatlas.imports.latents import read_npz, string_list
from latentatlas.imports.staging import ModelImportError, check_destination, write_folder
from latentatlas.store.ensembles import MANIFEST_FILE, MANIFEST_VERSION, PROBE_FILE, ImportedEnsembleConfig
from latentatlas.store.folders import RUNS_FOLDER, write_json, write_safetensors

KNOWN_ARRAYS = ("mu", "z", "logvar", "y", "factor_names", "indices", "dataset")
MAX_ABS_LOGVAR = 100.0  # exp(+-100): far past any posterior an encoder gives; beyond, float64 variances break
MEMBER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESERVED_NAMES = (RUNS_FOLDER,)  # the server writes its analysis runs there


@dataclass(frozen=True)
class Run:
    """One checked run file."""

    path: Path
    name: str
    mu: np.ndarray  # (N, D) float32
    logvar: np.ndarray  # (N, D) float32
    y: np.ndarray  # (N, K) int64
    factor_names: list[str] | None
    indices: np.ndarray | None  # (N,) int64
    dataset: str | None
    sha256: str
    arrays: list[str]


def _floats(path: Path, name: str, value: np.ndarray) -> np.ndarray:
    """``value`` as finite float32 (N, D) with N >= 2 (ModelImportError naming the file otherwise)."""
    if not np.issubdtype(value.dtype, np.floating):
        raise ModelImportError(f"{path}: {name} is {value.dtype}; it must hold floats")
    if value.ndim != 2 or value.shape[0] < 2 or value.shape[1] < 1:
        raise ModelImportError(
            f"{path}: {name} is {list(value.shape)}; expected (N, D): N >= 2 probe rows, D >= 1 latents"
        )
    with np.errstate(over="ignore"):
        out = value.astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ModelImportError(f"{path}: {name} holds NaN or infinite values (first at row {row}, latent {column})")
    return out


def _integers(path: Path, name: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if not np.issubdtype(value.dtype, np.integer) or value.shape != shape:
        raise ModelImportError(
            f"{path}: {name} is {value.dtype} {list(value.shape)}; expected integers of shape {list(shape)}"
        )
    if value.min(initial=0) < 0:
        raise ModelImportError(f"{path}: {name} holds negative values")
    return value.astype(np.int64)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_run(path: Path, name: str) -> Run:
    """Read and check one run file (module docstring); ModelImportError naming it and what is wrong."""
    arrays = read_npz(path)
    unknown = sorted(set(arrays) - set(KNOWN_ARRAYS))
    if unknown:
        raise ModelImportError(f"{path}: unknown array(s) {', '.join(unknown)}; known: {', '.join(KNOWN_ARRAYS)}")
    if "mu" in arrays and "z" in arrays:
        raise ModelImportError(f"{path}: holds both mu and z; give the posterior means once (mu, or z)")
    key = "mu" if "mu" in arrays else "z"
    if key not in arrays:
        raise ModelImportError(f"{path}: no mu (or z): the posterior means (N, D) of the probe rows")
    if "logvar" not in arrays:
        raise ModelImportError(
            f"{path}: no logvar. The fragments' Bhattacharyya estimators compare each channel's posterior "
            "N(mu, exp(logvar)), so a run needs its log-variances: export the encoder's log-variance output "
            "(a VAE's logvar, N x D) beside mu"
        )
    if "y" not in arrays:
        raise ModelImportError(f"{path}: no y: the factor indices (N, K) of the probe rows")
    mu, logvar = _floats(path, key, arrays[key]), _floats(path, "logvar", arrays["logvar"])
    if logvar.shape != mu.shape:
        raise ModelImportError(f"{path}: logvar is {list(logvar.shape)} but {key} is {list(mu.shape)}; they must match")
    extreme = float(np.abs(logvar).max())
    if extreme > MAX_ABS_LOGVAR:
        raise ModelImportError(
            f"{path}: logvar reaches {extreme:.3g} in absolute value (at most {MAX_ABS_LOGVAR:g}); "
            "is it a log-variance (not a variance or a standard deviation)?"
        )
    n = mu.shape[0]
    y = arrays["y"]
    if y.ndim != 2 or y.shape[0] != n:
        raise ModelImportError(f"{path}: y is {list(y.shape)}; expected ({n}, K), one row per row of {key}")
    y = _integers(path, "y", y, y.shape)
    names = string_list(path, "factor_names", arrays["factor_names"], y.shape[1]) if "factor_names" in arrays else None
    indices = _integers(path, "indices", arrays["indices"], (n,)) if "indices" in arrays else None
    dataset = string_list(path, "dataset", arrays["dataset"].reshape(-1), 1)[0] if "dataset" in arrays else None
    if dataset is not None and not dataset.strip():
        raise ModelImportError(f"{path}: dataset is an empty name")
    return Run(path, name, mu, logvar, y, names, indices, dataset, _sha256(path), sorted(arrays))


def _first_difference(a: np.ndarray, b: np.ndarray) -> str:
    at = tuple(int(i) for i in np.argwhere(a != b)[0])
    where = f"row {at[0]}" if len(at) == 1 else f"row {at[0]}, column {at[1]}"
    return f"first at {where}: {a[at]} vs {b[at]}"


def check_same_probe(first: Run, run: Run) -> None:
    """ModelImportError naming both runs unless ``run`` describes ``first``'s probe rows."""
    pair = f"{run.path} and {first.path}"
    why = "every run must encode the same probe rows, in the same order"
    if len(run.y) != len(first.y):
        raise ModelImportError(f"{pair} differ in probe rows ({len(run.y)} vs {len(first.y)}): {why}")
    if run.y.shape != first.y.shape:
        raise ModelImportError(f"{pair} differ in factors (y has {run.y.shape[1]} vs {first.y.shape[1]} columns)")
    if not np.array_equal(run.y, first.y):
        raise ModelImportError(f"{pair} differ in y ({_first_difference(run.y, first.y)}): {why}")
    if run.indices is not None and first.indices is not None and not np.array_equal(run.indices, first.indices):
        raise ModelImportError(f"{pair} differ in indices ({_first_difference(run.indices, first.indices)}): {why}")
    if run.factor_names and first.factor_names and run.factor_names != first.factor_names:
        raise ModelImportError(f"{pair} differ in factor_names ({run.factor_names} vs {first.factor_names})")
    if run.dataset and first.dataset and run.dataset != first.dataset:
        raise ModelImportError(f"{pair} differ in dataset ({run.dataset!r} vs {first.dataset!r})")


def member_names(paths: list[Path], names: list[str] | None) -> list[str]:
    """The members' folder names: ``names`` or the files' stems; distinct, plain, not reserved."""
    if names is None:
        names = [Path(p).stem for p in paths]
    elif len(names) != len(paths):
        raise ModelImportError(f"--names gives {len(names)} names for {len(paths)} run files: give one per file")
    for name in names:
        if not MEMBER_NAME.fullmatch(name) or name in RESERVED_NAMES:
            raise ModelImportError(
                f"member name {name!r} is not usable: 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                f"or digit, and not {', '.join(RESERVED_NAMES)} (pass --names)"
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ModelImportError(f"two runs would both be named {repeated[0]!r}: pass --names a,b,... (one per file)")
    return names


def import_ensemble(paths: list[Path], out: Path, names: list[str] | None = None) -> dict:
    """Check every run (module docstring) and write the ensemble folder ``out``; returns its
    manifest. Raises ModelImportError (naming the file(s) and what is wrong) with nothing written."""
    out, paths = Path(out), [Path(p) for p in paths]
    check_destination(out)
    if len(paths) < 2:
        raise ModelImportError(f"an ensemble needs at least two runs, got {len(paths)}")
    runs = [read_run(path, name) for path, name in zip(paths, member_names(paths, names))]
    for run in runs[1:]:
        check_same_probe(runs[0], run)
    first = runs[0]
    factor_names = next((r.factor_names for r in runs if r.factor_names), None)
    factor_names = factor_names or [f"factor{k}" for k in range(first.y.shape[1])]
    given = next((r.indices for r in runs if r.indices is not None), None)
    indices = given if given is not None else np.arange(len(first.y), dtype=np.int64)
    config = ImportedEnsembleConfig(
        dataset=next((r.dataset for r in runs if r.dataset), None),
        probe_size=len(indices),
        factor_names=tuple(factor_names),
        probe_rows="file order" if given is None else "indices",
    )
    manifest = {
        "version": MANIFEST_VERSION,
        "name": out.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.model_dump(mode="json"),
        "members": [
            {
                "name": run.name,
                "status": "done",
                "latent_dim": int(run.mu.shape[1]),
                "source": {"file": run.path.name, "sha256": run.sha256, "arrays": run.arrays},
            }
            for run in runs
        ],
    }
    index_tensor = torch.from_numpy(indices)

    def fill(folder: Path) -> None:
        write_safetensors(
            folder / PROBE_FILE,
            {"indices": index_tensor, "factors": torch.from_numpy(np.ascontiguousarray(first.y))},
            metadata={"factor_names": json.dumps(factor_names)},
        )
        for run in runs:
            (folder / run.name).mkdir()
            write_safetensors(
                folder / run.name / PROBE_FILE,
                {"mu": torch.from_numpy(run.mu), "logvar": torch.from_numpy(run.logvar), "indices": index_tensor},
                metadata={"layout": "probe points x latent_dim"},
            )
        write_json(folder / MANIFEST_FILE, manifest)

    write_folder(out, fill)
    return manifest
