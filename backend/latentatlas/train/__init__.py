"""Training: the generic loop (``latentatlas train``) and ensembles of runs (``ensemble train``).
What a step does belongs to each family's trainer (:mod:`latentatlas.families`)."""

from latentatlas.families.configs import TrainConfig
from latentatlas.train.loop import refinalize_folder, train

__all__ = ["TrainConfig", "refinalize_folder", "train"]
