"""Every ensemble folder under ``<models_dir>/ensembles``, each served by an
:class:`~latentatlas.serve.ensembles.EnsembleService`, and their finished members added to the
model registry as ``NAME.MEMBER``; rescanned while serving."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from latentatlas.serve.ensembles import ENSEMBLES_FOLDER, EnsembleService
from latentatlas.serve.model_folders import is_temporary
from latentatlas.serve.registry import ModelRegistry
from latentatlas.store.ensembles import MANIFEST_FILE

log = logging.getLogger("latentatlas.serve")


class EnsembleRegistry:
    """Every ensemble folder (holding manifest.json) under ``<models_dir>/ensembles``; broken
    ones are reported in ``failed`` (as ``ensembles/NAME``) and skipped. Finished members are
    added to ``models`` as ``NAME.MEMBER``. :meth:`rescan` serves ensembles added since and drops
    the removed ones (with their members)."""

    def __init__(self, models_dir: Path, models: ModelRegistry) -> None:
        self.services: dict[str, EnsembleService] = {}
        self.failed: dict[str, str] = {}
        self.root = models_dir / ENSEMBLES_FOLDER
        self.models = models
        self._failed_manifests: dict[str, int] = {}  # broken ensemble -> its manifest's mtime (ns) when it failed
        self.rescan()

    def _folders(self) -> dict[str, Path]:
        try:
            return {
                p.name: p
                for p in sorted(self.root.iterdir())
                if p.is_dir() and not is_temporary(p.name) and (p / MANIFEST_FILE).exists()
            }
        except OSError:
            return {}

    def rescan(self) -> bool:
        """Serve ensemble folders added since, serve the members finished since in the others,
        and drop the ensembles whose folder went; whether the ensembles changed."""
        folders = self._folders()
        changed = False
        for name in [name for name in self.services if name not in folders]:
            for model_id in self.services.pop(name).model_ids.values():
                self.models.remove(model_id)
            log.info("ensemble %s was removed: no longer served", name)
            changed = True
        for key in [key for key in self.failed if key.split("/", 1)[1] not in folders]:
            del self.failed[key]
            self._failed_manifests.pop(key.split("/", 1)[1], None)
        for name, folder in folders.items():
            if name in self.services:
                self.services[name].refresh()
                continue
            try:
                stamp = (folder / MANIFEST_FILE).stat().st_mtime_ns
            except OSError:
                continue
            if self._failed_manifests.get(name) == stamp:
                continue
            try:
                service = EnsembleService(folder, self._member_server(self.models, name))
            except Exception as error:
                log.error("skipping ensemble %s: %s: %s", name, type(error).__name__, error)
                self.failed[f"{ENSEMBLES_FOLDER}/{name}"] = self.models.public_reason(error)
                self._failed_manifests[name] = stamp
                continue
            self.failed.pop(f"{ENSEMBLES_FOLDER}/{name}", None)
            self._failed_manifests.pop(name, None)
            self.services[name] = service
            service.refresh()
            log.info("serving ensemble %s (%d members)", name, len(service.model_ids))
            changed = True
        return changed

    @staticmethod
    def _member_server(models: ModelRegistry, ensemble_id: str) -> Callable[[str, str, Path], bool]:
        """Serve a finished member of ``ensemble_id`` as a model, unless its id clashes with a model folder."""

        def serve(model_id: str, name: str, folder: Path) -> bool:
            if models.describe(model_id) is not None:
                models.failed[model_id] = f"ensemble member clashes with the model folder {model_id!r}: not served"
                return False
            return models.add_folder(model_id, folder, ensemble=ensemble_id)

        return serve

    def get(self, ensemble_id: str) -> EnsembleService | None:
        return self.services.get(ensemble_id)
