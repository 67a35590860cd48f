"""Building blocks with no I/O: the shared conv encoder/decoder (:mod:`~latentatlas.nets.blocks`),
invertible flow layers (:mod:`~latentatlas.nets.flows`) and per-dimension latent quantisation
(:mod:`~latentatlas.nets.quantizer`). The model families in :mod:`latentatlas.families` build on
them. Only the networks' geometry is imported here (it needs no torch)."""

from latentatlas.nets.config import NetConfig

__all__ = ["NetConfig"]
