"""Which folders of the models directory are models, whether one is whole or still being written,
and a cheap signature that says when its files changed (so the registry re-reads only those)."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

from latentatlas.families import get_family
from latentatlas.store.folders import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE

TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".incomplete", "~")
"""Folder names that say a copy or a download is under way: never served."""

SETTLE_SECONDS = 5.0
"""An incomplete folder changed more recently than this is taken for one being written (not served,
looked at again); an older one is broken."""

Signature = tuple[tuple[int, int] | None, ...]


def is_temporary(name: str) -> bool:
    """A hidden folder (``.name``) or one named like a copy in progress (``name.tmp``, ``name.partial``)."""
    return name.startswith(".") or name.endswith(TEMPORARY_SUFFIXES)


def is_model_folder(path: Path) -> bool:
    """A folder, not temporary, holding config.json or weights.safetensors (so ``ensembles/`` and
    ``zoo/`` are not models)."""
    return (
        path.is_dir() and not is_temporary(path.name) and any((path / f).exists() for f in (CONFIG_FILE, WEIGHTS_FILE))
    )


def model_folders(models_dir: Path) -> dict[str, Path]:
    """Model id (the folder's name) -> folder, for every model folder directly under ``models_dir``."""
    try:
        entries = sorted(models_dir.iterdir())
    except OSError:
        return {}
    return {path.name: path for path in entries if is_model_folder(path)}


def stored_files(folder: Path) -> tuple[str, ...]:
    """The files that hold the folder's model, as its family declares them (``LatentModel.stored_files``:
    weights.safetensors, or an imported model's graphs); weights.safetensors while config.json cannot tell."""
    try:
        kind = json.loads((folder / CONFIG_FILE).read_text())["model"]["kind"]
        return get_family(kind).config.stored_files
    except (OSError, ValueError, KeyError, TypeError):
        return (WEIGHTS_FILE,)


def signature(folder: Path) -> Signature:
    """(mtime in ns, size) of config.json, the model's stored files and card.json (None where missing)."""
    out: list[tuple[int, int] | None] = []
    for name in (CONFIG_FILE, *stored_files(folder), CARD_FILE):
        try:
            stat = (folder / name).stat()
            out.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def settled(folder_signature: Signature, now: float | None = None) -> bool:
    """Whether none of the folder's files changed in the last SETTLE_SECONDS."""
    newest = max((entry[0] for entry in folder_signature if entry is not None), default=0)
    return (now if now is not None else time.time()) - newest / 1e9 >= SETTLE_SECONDS


def unfinished(folder: Path) -> str | None:
    """Why the folder is not (yet) a whole model, or None: config.json missing, none of the files
    its family stores the model in (:func:`stored_files`), or a safetensors file shorter than its
    own header says (a copy in progress). (A config.json that is not valid yet shows when it is read.)"""
    if not (folder / CONFIG_FILE).is_file():
        return f"{CONFIG_FILE} is missing"
    names = stored_files(folder)
    present = [name for name in names if (folder / name).is_file()]
    if not present:
        return f"{' and '.join(names)} {'is' if len(names) == 1 else 'are'} missing"
    for name in present:
        problem = _truncated_safetensors(folder / name) if name.endswith(".safetensors") else None
        if problem is not None:
            return problem
    return None


def _truncated_safetensors(path: Path) -> str | None:
    """Why a safetensors file is not whole (its header runs past its end, or its tensors do), or None."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > size - 8:
                return f"{path.name} is truncated (its header runs past its end)"
            header = json.loads(handle.read(header_size))
        end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    except (OSError, ValueError, struct.error, AttributeError, KeyError, TypeError, IndexError) as error:
        return f"{path.name} is not a safetensors file ({type(error).__name__})"
    if 8 + header_size + end > size:
        return f"{path.name} is truncated ({size} of {8 + header_size + end} bytes)"
    return None
