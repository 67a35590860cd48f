"""Training: the loop, typed configs, checkpoints and model folders with their cards."""

from latentatlas.train.checkpoint import LoadedModel, load_model_folder, save_model_folder
from latentatlas.train.loop import TrainConfig, train

__all__ = ["LoadedModel", "TrainConfig", "load_model_folder", "save_model_folder", "train"]
