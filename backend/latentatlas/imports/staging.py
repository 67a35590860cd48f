"""How an import fails and how it writes: a :class:`ModelImportError` names the file and what is
wrong; a folder is written under a temporary name beside its destination and renamed when
complete, so nothing half-written is ever left where models are read from."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


class ModelImportError(ValueError):
    """The input cannot be imported (the message names the file and what is wrong)."""


def check_destination(out: Path) -> None:
    """ModelImportError unless ``out`` is free (nothing there) and its parent a folder."""
    if out.exists():
        raise ModelImportError(f"{out} already exists: choose another --out or remove it first")
    if out.parent.exists() and not out.parent.is_dir():
        raise ModelImportError(f"{out.parent} is not a folder")


def write_folder(out: Path, fill: Callable[[Path], None]) -> None:
    """Create ``out`` through ``fill(tmp)`` on a temporary sibling folder, renamed to ``out``
    when ``fill`` returns; on any failure the temporary folder is removed."""
    check_destination(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.importing-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        fill(staging)
        staging.rename(out)
    except OSError as error:
        raise ModelImportError(f"could not write {out}: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
