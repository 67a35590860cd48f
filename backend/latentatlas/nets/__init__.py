"""Building blocks with no I/O: the shared conv encoder/decoder, invertible flow layers and
per-dimension latent quantisation. The model families in :mod:`latentatlas.families` build on them."""

from latentatlas.nets.config import NetConfig
from latentatlas.nets.quantizer import LatentQuantizer

__all__ = ["LatentQuantizer", "NetConfig"]
