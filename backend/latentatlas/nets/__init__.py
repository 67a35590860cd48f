"""Torch modules: the shared conv encoder/decoder and the latent models built on it (no I/O)."""

from latentatlas.nets.base import Encoding, LatentModel, ModelConfig, NetConfig, build_model
from latentatlas.nets.qlae import QLAE, LatentQuantizer

__all__ = ["Encoding", "LatentModel", "LatentQuantizer", "ModelConfig", "NetConfig", "QLAE", "build_model"]
