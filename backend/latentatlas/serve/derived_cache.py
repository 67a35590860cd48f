"""Large results derived from a model (population encodings) kept on disk, not in the process:
``<cache_dir>/<kind>/<model fingerprint>-<name>.json`` (text) or ``.bin`` (bytes). The fingerprint
is the SHA-256 of the model's config and tensors, so a result survives the model's eviction and a restart, and a model
retrained in place never reads its predecessor's. Files are written atomically; a cache folder
that cannot be written only costs recomputation (logged once)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from latentatlas.store.folders import write_bytes, write_text

if TYPE_CHECKING:
    import torch

log = logging.getLogger("latentatlas.serve")


def model_fingerprint(config: dict, model: torch.nn.Module) -> str:
    """SHA-256 over the model's config (JSON, sorted keys) and every tensor of its state, in name order."""
    import torch  # here: the cache opens at start-up, before any model (and torch) is loaded

    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class DerivedCache:
    """JSON documents (or bytes) by (kind, model fingerprint, name) under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._warned = False

    def path(self, kind: str, fingerprint: str, name: str, suffix: str = ".json") -> Path:
        return self.root / kind / f"{fingerprint[:32]}-{name}{suffix}"

    def read(self, kind: str, fingerprint: str, name: str) -> str | None:
        """The stored document, or None when there is none (or it cannot be read)."""
        try:
            return self.path(kind, fingerprint, name).read_text()
        except OSError:
            return None

    def read_bytes(self, kind: str, fingerprint: str, name: str) -> bytes | None:
        """The stored bytes (``.bin``), or None when there are none (or they cannot be read)."""
        try:
            return self.path(kind, fingerprint, name, ".bin").read_bytes()
        except OSError:
            return None

    def write(self, kind: str, fingerprint: str, name: str, text: str) -> None:
        self._write(self.path(kind, fingerprint, name), lambda path: write_text(path, text))

    def write_bytes(self, kind: str, fingerprint: str, name: str, data: bytes) -> None:
        self._write(self.path(kind, fingerprint, name, ".bin"), lambda path: write_bytes(path, data))

    def _write(self, path: Path, write: Callable[[Path], None]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
        except OSError as error:
            if not self._warned:
                self._warned = True
                log.warning(
                    "the derived-results cache %s is not writable (%s): results are recomputed", self.root, error
                )
