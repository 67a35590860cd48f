"""The models the server holds: every model folder under the models directory, loaded once at
start-up, each behind a :class:`~latentatlas.serve.services.core.ModelService`."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from pydantic import ValidationError

from latentatlas.serve.admission import Admission
from latentatlas.serve.errors import describe_errors
from latentatlas.serve.services.core import ModelService
from latentatlas.store.folders import load_model_folder

log = logging.getLogger("latentatlas.serve")


class ModelRegistry:
    """Every model folder under the models directory; broken ones are reported and skipped.

    Only folders holding config.json or weights.safetensors are models (so ``ensembles/``,
    whose members ``EnsembleRegistry`` adds with ``load``, is not one)."""

    def __init__(self, models_dir: Path, device: torch.device, admission: Admission | None = None) -> None:
        self.admission = admission or Admission(per_model=1 << 30)
        self.services: dict[str, ModelService] = {}
        self.failed: dict[str, str] = {}
        self.device = device
        self.models_dir = models_dir
        self.problem: str | None = None  # why nothing could be served at all (for /readyz)
        if not models_dir.is_dir():
            log.warning("models folder %s does not exist: serving no models", models_dir)
            self.problem = "the models folder (LATENTATLAS_MODELS_DIR) does not exist"
            return
        for folder in sorted(p for p in models_dir.iterdir() if p.is_dir() and any((p / f).exists() for f in ("config.json", "weights.safetensors"))):
            self.load(folder.name, folder)

    def load(self, model_id: str, folder: Path, ensemble: str | None = None) -> bool:
        """Serve the model folder as ``model_id`` (a member of ``ensemble``, if given); a broken
        one is recorded in ``failed`` (False)."""
        try:
            service = ModelService(load_model_folder(folder, self.device), self.device, model_id, self.admission)
            service.ensemble = ensemble
            self.services[model_id] = service
            log.info("loaded model %s", model_id)
            return True
        except Exception as error:  # noqa: BLE001 - any broken folder is reported, never fatal
            log.error("skipping model %s: %s: %s", model_id, type(error).__name__, error)
            self.failed[model_id] = self.public_reason(error)
            return False

    def public_reason(self, error: Exception) -> str:
        """An error as /readyz shows it: its type and message, with the server's paths
        shortened to paths inside the models folder, a validation error's problems without the
        file's content, and 300 characters at most (the log keeps the full message)."""
        message = describe_errors(error.errors()) if isinstance(error, ValidationError) else str(error)
        message = message.replace(str(self.models_dir.resolve()), "").replace(str(self.models_dir), "")
        return f"{type(error).__name__}: {message[:300]}"

    def get(self, model_id: str) -> ModelService | None:
        return self.services.get(model_id)
