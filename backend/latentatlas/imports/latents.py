"""``latentatlas import latents``: a run's saved latents, with the factor indices of each sample,
as a model folder of the encoder-only ``latents`` family with a metrics card.

The file is an ``.npz`` read with ``allow_pickle=False`` (an object array is refused): ``z``
(N, D) float latents and ``y`` (N, K) integer factor indices (the Embedding Projector's vectors
and metadata, with factor indices so that every score can be computed); optional
``factor_names`` (K strings), ``images`` (N, H, W) or (N, H, W, C) (uint8 0..255, 0/1 binary
uint8 or floats in [0, 1]; C 1 or 3; H = W) or ``dataset`` (its name: dsprites, shapes3d) with
``indices`` (N dataset indices), and ``train_rows`` (the metrics' train split, default 2/3).
The card's metrics are ``latentatlas.metrics.compute_metrics`` on z and y.
"""

from __future__ import annotations

import time
import typing
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from latentatlas.data.spec import DatasetSpec
from latentatlas.families.configs import WEIGHTS_FILE, LatentsConfig
from latentatlas.families.latents import SavedLatents
from latentatlas.imports.staging import (
    ModelImportError,
    check_destination,
    write_folder,
)
from latentatlas.metrics import MetricsInputError, compute_metrics
from latentatlas.metrics.report import default_train_rows
from latentatlas.nets.config import NetConfig
from latentatlas.store.folders import (
    CARD_FILE,
    CONFIG_FILE,
    FolderConfig,
    load_model_folder,
    model_state,
    write_json,
    write_safetensors,
)

KNOWN_ARRAYS = ("z", "y", "factor_names", "images", "dataset", "indices", "train_rows")
DATASETS = typing.get_args(DatasetSpec.model_fields["name"].annotation)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz ``path``, read without pickles (ModelImportError naming the file otherwise)."""
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ModelImportError(f"{path}: not a readable .npz file (an .npz is a zip archive of named .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ModelImportError(
                f"{path}: holds pickled object arrays, which are never loaded; save plain numeric and string arrays"
            ) from error
        raise ModelImportError(f"{path}: not a readable .npz file ({error})") from error
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ModelImportError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from error


def _images(path: Path, images: np.ndarray, n: int) -> np.ndarray:
    """``images`` as uint8 (N, C, S, S)."""
    given = list(images.shape)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] != n or images.shape[1] != images.shape[2] or images.shape[3] not in (1, 3):
        raise ModelImportError(f"{path}: images is {given}; expected ({n}, S, S) or ({n}, S, S, C) with C 1 or 3")
    if images.dtype == np.uint8:
        scaled = images * np.uint8(255) if images.max(initial=0) <= 1 else images
    elif np.issubdtype(images.dtype, np.floating):
        if not np.isfinite(images).all() or images.min(initial=0) < 0 or images.max(initial=0) > 1:
            raise ModelImportError(f"{path}: float images must be finite and in [0, 1]")
        scaled = np.round(images * 255).astype(np.uint8)
    else:
        raise ModelImportError(f"{path}: images are {images.dtype}; give uint8 or floats in [0, 1]")
    return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))


def string_list(path: Path, name: str, value: np.ndarray, count: int) -> list[str]:
    """The array ``name`` as ``count`` strings (ModelImportError otherwise)."""
    if value.dtype.kind not in "US" or value.shape != (count,):
        raise ModelImportError(f"{path}: {name} must be {count} strings, got {value.dtype} {list(value.shape)}")
    return [str(item) for item in value.astype(str)]


def _dataset(path: Path, arrays: dict[str, np.ndarray], n: int) -> tuple[DatasetSpec | None, np.ndarray | None]:
    if "dataset" not in arrays:
        return None, None
    if "indices" not in arrays:
        raise ModelImportError(
            f"{path}: dataset is given without indices (the dataset index of each of the {n} samples)"
        )
    (name,) = string_list(path, "dataset", arrays["dataset"].reshape(-1), 1)
    if name not in DATASETS or name == "folder":
        raise ModelImportError(
            f"{path}: dataset {name!r} is not one of {', '.join(d for d in DATASETS if d != 'folder')}"
        )
    indices = arrays["indices"]
    if not np.issubdtype(indices.dtype, np.integer) or indices.shape != (n,) or indices.min(initial=0) < 0:
        raise ModelImportError(
            f"{path}: indices must be {n} non-negative integers, got {indices.dtype} {list(indices.shape)}"
        )
    return DatasetSpec(name=name), indices.astype(np.int64)


def _check(path: Path, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    missing = [name for name in ("z", "y") if name not in arrays]
    if missing:
        raise ModelImportError(f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(arrays) or 'none'}")
    unknown = sorted(set(arrays) - set(KNOWN_ARRAYS))
    if unknown:
        raise ModelImportError(f"{path}: unknown array(s) {', '.join(unknown)}; known: {', '.join(KNOWN_ARRAYS)}")
    z, y = arrays["z"], arrays["y"]
    if not np.issubdtype(z.dtype, np.floating):
        raise ModelImportError(f"{path}: z is {z.dtype}; latents must be floats")
    if not np.issubdtype(y.dtype, np.integer):
        raise ModelImportError(f"{path}: y is {y.dtype}; factor indices must be integers")
    if z.ndim != 2 or y.ndim != 2 or z.shape[0] != y.shape[0]:
        raise ModelImportError(
            f"{path}: z is {list(z.shape)} and y {list(y.shape)}; expected (N, D) and (N, K) with one N"
        )
    if not np.isfinite(z).all():
        row, column = np.argwhere(~np.isfinite(z))[0]
        raise ModelImportError(f"{path}: z holds NaN or infinite values (first at row {row}, latent {column})")
    if y.min(initial=0) < 0:
        raise ModelImportError(f"{path}: y holds negative factor indices")
    return z.astype(np.float32), y.astype(np.int64)


def import_latents(path: Path, out: Path, seed: int = 0, n_jobs: int = 1) -> dict:
    """Check ``path`` (module docstring), score it and write ``out``; returns the card. Raises
    ModelImportError (naming the file and what is wrong) with nothing written."""
    started = time.perf_counter()
    path = Path(path)
    check_destination(out)
    arrays = read_npz(path)
    z, y = _check(path, arrays)
    n, factors = y.shape
    names = (
        string_list(path, "factor_names", arrays["factor_names"], factors)
        if "factor_names" in arrays
        else [f"factor{k}" for k in range(factors)]
    )
    spec, indices = _dataset(path, arrays, n)
    images = _images(path, arrays["images"], n) if "images" in arrays else None
    train_rows = arrays.get("train_rows")
    try:
        values = compute_metrics(z, y, train_rows, seed=seed, n_jobs=n_jobs, with_matrices=True)
    except MetricsInputError as error:
        raise ModelImportError(f"{path}: {error}") from error
    matrices = values.pop("matrices")
    metrics = {
        "values": values,
        "matrices": matrices,
        "factor_names": names,
        "latent_dim": int(z.shape[1]),
        "latents_scored": "all",
        "samples": n,
        "train_rows": int(train_rows) if train_rows is not None else default_train_rows(n),
        "seed": seed,
        "infomec_latents": "values",
        "votes": {},
        "seconds": {"total": round(time.perf_counter() - started, 2)},
        "device": "cpu",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    net = NetConfig(image_size=images.shape[2], channels=images.shape[1]) if images is not None else NetConfig()
    config = LatentsConfig(
        latent_dim=z.shape[1],
        net=net,
        samples=n,
        factors=factors,
        stored_images=images is not None,
        dataset_indices=indices is not None,
    )
    model = SavedLatents(config)
    model.latents.copy_(torch.from_numpy(z))
    model.factors.copy_(torch.from_numpy(y))
    if images is not None:
        model.images.copy_(torch.from_numpy(images))
    if indices is not None:
        model.indices.copy_(torch.from_numpy(indices))
    card = {
        "id": out.name,
        "kind": config.kind,
        "steps": None,
        "heldout": {},
        "dataset": {
            "name": spec.name if spec else "imported latents",
            "size": n,
            "factor_names": names,
            "factor_sizes": (y.max(axis=0) + 1).tolist(),
        },
        "latent_stats": {
            "mean": z.mean(0).tolist(),
            "std": z.std(0).tolist(),
            "min": z.min(0).tolist(),
            "max": z.max(0).tolist(),
        },
        "imported": {"source": path.name, "arrays": sorted(arrays)},
        "metrics": metrics,
        "created": metrics["created"],
    }
    # Without a dataset the folder names an image folder that is not there: the server serves it without one.
    folder_config = FolderConfig(
        model=config, dataset=spec or DatasetSpec(name="folder", channels=net.channels, image_size=net.image_size)
    )

    def fill(folder: Path) -> None:
        write_json(folder / CONFIG_FILE, folder_config.model_dump(mode="json"))
        write_safetensors(folder / WEIGHTS_FILE, model_state(model))
        write_json(folder / CARD_FILE, card)
        load_model_folder(folder)

    write_folder(out, fill)
    return card
