"""The models the server holds. Start-up only indexes the model folders under the models directory
(their config and card: :class:`~latentatlas.serve.services.description.ModelDescription`); a
model's weights load on its first use, behind a :class:`~latentatlas.serve.services.core.ModelService`,
and the least recently used loaded models are evicted beyond a memory budget (to be loaded again,
the same, when next used). :meth:`ModelRegistry.rescan` picks up folders added, changed or removed
while the server runs; :meth:`ModelRegistry.add` and :meth:`ModelRegistry.remove` serve models
that live only in memory."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from latentatlas.errors import NotFoundError
from latentatlas.serve.admission import Admission
from latentatlas.serve.derived_cache import DerivedCache
from latentatlas.serve.errors import describe_errors
from latentatlas.serve.model_folders import Signature, model_folders, settled, signature, unfinished
from latentatlas.serve.services.description import ModelDescription
from latentatlas.store.folders import load_model_folder

if TYPE_CHECKING:
    import torch

    from latentatlas.serve.services.core import ModelService

log = logging.getLogger("latentatlas.serve")

DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024


@dataclass(eq=False)
class _Entry:
    """One served model: its description, where it comes from, and its service while loaded."""

    description: ModelDescription
    folder: Path | None  # None: a model that lives only in memory (never evicted)
    signature: Signature | None = None
    top_level: bool = True  # a folder of the models directory (rescan adds and removes it)
    service: ModelService | None = None
    size: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelRegistry:
    """Every model folder under the models directory, indexed; broken ones are reported in
    ``failed`` (id -> public reason) and not served."""

    def __init__(
        self,
        models_dir: Path,
        device: torch.device | str,
        admission: Admission | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        cache: DerivedCache | None = None,
    ) -> None:
        self.admission = admission or Admission(per_model=1 << 30)
        self.device_name = str(device)  # resolved when the first model loads: indexing needs no torch
        self._device: torch.device | None = None
        self.models_dir = models_dir
        self.memory_budget = memory_budget
        self.cache = cache
        self.failed: dict[str, str] = {}
        self.generation = 0  # counts the changes to the served models
        self.changed_at = datetime.now(UTC)
        self.problem: str | None = None  # why nothing could be served at all (for /readyz)
        self._entries: dict[str, _Entry] = {}
        self._loaded: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._failures: dict[str, tuple[Path, Signature, bool]] = {}  # failed id -> (folder, signature, top level)
        self._lock = threading.RLock()
        self.watching = False  # once True, an incomplete folder that is still changing is waited for
        self.waiting_for: set[str] = set()  # folders being written, looked at again at the next rescan
        if not models_dir.is_dir():
            log.warning("models folder %s does not exist: serving no models", models_dir)
            self.problem = "the models folder (LATENTATLAS_MODELS_DIR) does not exist"
            return
        self.rescan()

    @property
    def device(self) -> torch.device:
        """Where models load (``LATENTATLAS_DEVICE``: auto, cpu, cuda[:N]), resolved on first use."""
        if self._device is None:
            from latentatlas.devices import resolve_device

            self._device = resolve_device(self.device_name)
        return self._device

    # -- what is served ------------------------------------------------------------------------
    @property
    def models(self) -> dict[str, ModelDescription]:
        """Every served model's description, by id (loaded or not)."""
        with self._lock:
            return {model_id: entry.description for model_id, entry in self._entries.items()}

    @property
    def loaded(self) -> dict[str, ModelService]:
        """The models in memory now, least recently used first."""
        with self._lock:
            return {model_id: entry.service for model_id, entry in self._loaded.items() if entry.service is not None}

    def loaded_bytes(self) -> int:
        with self._lock:
            return sum(entry.size for entry in self._loaded.values())

    def describe(self, model_id: str) -> ModelDescription | None:
        entry = self._entries.get(model_id)
        return entry.description if entry is not None else None

    def get(self, model_id: str) -> ModelService | None:
        """The model's service, loaded now if it is not in memory (once, however many ask at
        once); None for an unknown model. A folder that fails to load moves to ``failed`` and
        raises NotFoundError saying why."""
        with self._lock:
            entry = self._entries.get(model_id)
            if entry is None:
                if model_id in self.failed:
                    raise NotFoundError(self._failed_message(model_id))
                return None
            if entry.service is not None:
                self._loaded.move_to_end(model_id)
                return entry.service
        with entry.lock:
            service = entry.service
            if service is None:
                service = self._load(model_id, entry)
        with self._lock:
            if model_id in self._loaded:
                self._loaded.move_to_end(model_id)
        return service

    def _load(self, model_id: str, entry: _Entry) -> ModelService:
        """Load ``entry``'s weights (its lock held), keep the service and evict beyond the budget."""
        assert entry.folder is not None, "in-memory models are never evicted"
        from latentatlas.serve.services.core import ModelService  # torch: with the first model, not the index

        started = time.perf_counter()
        try:
            loaded = load_model_folder(entry.folder, self.device)
            service = ModelService(loaded, self.device, model_id, self.admission, entry.description, self.cache)
        except Exception as error:
            log.error("model %s failed to load: %s: %s", model_id, type(error).__name__, error)
            with self._lock:
                if self._entries.get(model_id) is entry:
                    self._fail(model_id, self.public_reason(error), entry.folder, entry.top_level)
            raise NotFoundError(self._failed_message(model_id)) from error
        with self._lock:
            if self._entries.get(model_id) is entry:  # not removed or replaced meanwhile
                entry.service, entry.size = service, service.memory_bytes()
                self._loaded[model_id] = entry
                self._evict(keep=model_id)
        log.info(
            "loaded model %s (%.1f MB, %.2f s)", model_id, service.memory_bytes() / 2**20, time.perf_counter() - started
        )
        return service

    def _evict(self, keep: str) -> None:
        """Unload the least recently used folder models until the loaded ones fit the budget."""
        total = sum(entry.size for entry in self._loaded.values())
        for model_id, entry in list(self._loaded.items()):
            if total <= self.memory_budget:
                break
            if model_id == keep or entry.folder is None:
                continue
            del self._loaded[model_id]
            entry.service, total = None, total - entry.size
            log.info("evicted model %s (%.1f MB; %.1f MB loaded)", model_id, entry.size / 2**20, total / 2**20)

    def _failed_message(self, model_id: str) -> str:
        return (
            f"unknown model {model_id[:100]!r}: its folder failed to load ({self.failed.get(model_id)}); "
            "GET /readyz lists the folders that failed"
        )

    # -- changes ---------------------------------------------------------------------------------
    def _changed(self) -> None:
        self.generation += 1
        self.changed_at = datetime.now(UTC)

    def _drop(self, model_id: str) -> bool:
        """Forget the model (its lock held by the caller); whether it was served."""
        entry = self._entries.pop(model_id, None)
        self._loaded.pop(model_id, None)
        if entry is not None:
            entry.service = None
            self._changed()
        return entry is not None

    def _fail(self, model_id: str, reason: str, folder: Path, top_level: bool) -> None:
        """Record a folder that failed (until its files change, or it goes)."""
        self._drop(model_id)
        self.failed[model_id] = reason
        self._failures[model_id] = (folder, signature(folder), top_level)

    def add(self, model_id: str, service: ModelService) -> None:
        """Serve a model that lives only in memory (replacing any model of that id); it is never evicted."""
        with self._lock:
            self._drop(model_id)
            self.failed.pop(model_id, None)
            self._failures.pop(model_id, None)
            entry = _Entry(service.description, None, top_level=False, service=service, size=service.memory_bytes())
            self._entries[model_id] = entry
            self._loaded[model_id] = entry
            self._changed()
        log.info("serving in-memory model %s", model_id)

    def remove(self, model_id: str) -> bool:
        """Stop serving ``model_id`` (an in-memory model; a folder still in the models folder comes
        back at the next rescan); whether it was served."""
        with self._lock:
            removed = self._drop(model_id)
            self.failed.pop(model_id, None)
            self._failures.pop(model_id, None)
        if removed:
            log.info("removed model %s", model_id)
        return removed

    def add_folder(self, model_id: str, folder: Path, ensemble: str | None = None, top_level: bool = False) -> bool:
        """Index ``folder`` as ``model_id`` (a member of ``ensemble``, if given); whether it is
        served. A broken folder is recorded in ``failed``; one still being written (incomplete and
        changing, once the registry watches) is neither, and is looked at again next rescan."""
        folder_signature = signature(folder)
        try:
            problem = unfinished(folder)
            if problem is not None:
                raise ValueError(problem)
            description = ModelDescription.of_folder(model_id, folder, ensemble)
        except Exception as error:
            if self.watching and not settled(folder_signature):
                self.waiting_for.add(model_id)
                log.info("model folder %s is being written (%s): not served yet", model_id, error)
                return False
            log.error("skipping model %s: %s: %s", model_id, type(error).__name__, error)
            with self._lock:
                self._fail(model_id, self.public_reason(error), folder, top_level)
            return False
        with self._lock:
            self._drop(model_id)
            self.failed.pop(model_id, None)
            self._failures.pop(model_id, None)
            self._entries[model_id] = _Entry(description, folder, folder_signature, top_level)
            self._changed()
        if self.watching:
            log.info("serving model %s from %s", model_id, folder.name)
        return True

    def rescan(self) -> bool:
        """Bring the index up to date with the models directory: folders added or changed are
        (re)indexed (a loaded model whose files changed is unloaded), folders gone are dropped
        (ensemble members too). Whether anything served changed."""
        generation = self.generation
        found = model_folders(self.models_dir)
        self.waiting_for = set()
        with self._lock:
            for model_id, entry in list(self._entries.items()):
                gone = entry.folder is not None and (
                    (entry.top_level and model_id not in found) or not entry.folder.is_dir()
                )
                if gone:
                    self._drop(model_id)
                    log.info("model folder %s was removed: no longer served", model_id)
            for model_id, (folder, _, top_level) in list(self._failures.items()):
                if (top_level and model_id not in found) or not folder.is_dir():
                    del self._failures[model_id]
                    self.failed.pop(model_id, None)
                    self._changed()
            known = {model_id: entry.signature for model_id, entry in self._entries.items() if entry.top_level}
            known.update({model_id: failure[1] for model_id, failure in self._failures.items() if failure[2]})
        for model_id, folder in found.items():
            if known.get(model_id) == signature(folder):
                continue
            if model_id in self._entries and model_id not in known:
                continue  # an ensemble member or in-memory model holds the id
            self.add_folder(model_id, folder, top_level=True)
        return self.generation != generation

    def public_reason(self, error: Exception) -> str:
        """An error as /readyz shows it: its type and message, with the server's paths
        shortened to paths inside the models folder, a validation error's problems without the
        file's content, and 300 characters at most (the log keeps the full message)."""
        message = describe_errors(error.errors()) if isinstance(error, ValidationError) else str(error)
        message = message.replace(str(self.models_dir.resolve()), "").replace(str(self.models_dir), "")
        return f"{type(error).__name__}: {message[:300]}"
