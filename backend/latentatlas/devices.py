"""Device and thread selection shared by the CLI, training and the server."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """Map ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` to a torch device (``auto`` picks CUDA when present)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def set_threads(threads: int) -> None:
    """Fix torch's intra-op thread count: other processes may share the cores."""
    torch.set_num_threads(max(1, threads))
