"""What a killed server (or a full disk) leaves behind, cleaned up when a server starts: the
temporary files of atomic writes whose writing process is gone (``.NAME.<pid>.tmp``), analysis
runs that never wrote their ``analysis.json``, and ``runs/`` folders left empty. What cannot be
removed (a read-only models folder) is logged and left."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from latentatlas.store.folders import RUNS_FOLDER

log = logging.getLogger("latentatlas.store")

ATOMIC_TMP = re.compile(r"^\..+\.(\d+)\.tmp$")
ANALYSIS_FILE = "analysis.json"  # written last by latentatlas.evaluation.ensemble.analyze_ensemble


def clean_leftovers(*roots: Path) -> list[Path]:
    """Remove the leftovers under each root (a models or state folder); returns what was removed."""
    removed: list[Path] = []
    for root in roots:
        if root.is_dir():
            for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):  # deepest first
                if _is_leftover(path) and _remove(path):
                    removed.append(path)
    if removed:
        log.info(
            "removed %d leftover(s) of an interrupted server: %s", len(removed), ", ".join(str(p) for p in removed[:10])
        )
    return removed


def _is_leftover(path: Path) -> bool:
    match = ATOMIC_TMP.match(path.name)
    if match and path.is_file():
        return not _alive(int(match.group(1)))
    if path.parent.name == RUNS_FOLDER and path.name.startswith("analysis-") and path.is_dir():
        return not (path / ANALYSIS_FILE).exists()
    return path.name == RUNS_FOLDER and path.is_dir() and not any(path.iterdir())


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove(path: Path) -> bool:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        return True
    except OSError as error:
        log.warning("cannot remove the leftover %s: %s", path, error)
        return False
