"""Storage: model folders, training checkpoints and ensemble manifests on disk (safetensors and
JSON only, written atomically). Imported by training, evaluation and the server alike."""

from latentatlas.store.folders import (
    CARD_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    FolderConfig,
    LoadedModel,
    load_model_folder,
    read_folder_config,
    save_model_folder,
    write_json,
    write_safetensors,
)

__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "FolderConfig",
    "LoadedModel",
    "load_model_folder",
    "read_folder_config",
    "save_model_folder",
    "write_json",
    "write_safetensors",
]
