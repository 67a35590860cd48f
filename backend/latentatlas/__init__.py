"""Latent Atlas: explore the latent spaces of disentangled representation models.

``latentatlas.explore(encoder, decoder)`` serves a model held in memory in the app
(:mod:`latentatlas.serve.explore`); it is imported on first use, so ``import latentatlas`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "explore"]


def __getattr__(name: str) -> Any:
    """``explore``, imported when first asked for (it brings in torch and the server)."""
    if name == "explore":
        from latentatlas.serve.explore import explore

        return explore
    raise AttributeError(f"module 'latentatlas' has no attribute {name!r}")
