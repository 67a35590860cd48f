"""Saved-latents run files for the ``ensemble import`` tests (unit, API, browser): the posteriors a
VAE trained elsewhere would export, over one seeded probe set whose two factors the first
channels follow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FACTOR_NAMES = ["shape", "size"]
FACTOR_SIZES = (3, 4)


def probe_factors(n: int) -> np.ndarray:
    """The probe rows' factor indices (n, 2), the same for every run (seed 0)."""
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, size, n) for size in FACTOR_SIZES], axis=1)


def run_arrays(seed: int, n: int = 40, latent_dim: int = 3) -> dict[str, np.ndarray]:
    """One run: mu (n, latent_dim) whose first two channels follow the factors (the run's
    ``seed`` sets the noise and the channels' scale), logvar (n, latent_dim), y, factor_names."""
    rng = np.random.default_rng(seed + 1)
    y = probe_factors(n)
    signal = np.concatenate([y * rng.uniform(0.5, 2.0, 2), np.zeros((n, max(0, latent_dim - 2)))], axis=1)
    mu = signal[:, :latent_dim] + 0.1 * rng.standard_normal((n, latent_dim))
    logvar = np.log(0.05**2) + 0.1 * rng.standard_normal((n, latent_dim))
    return {"mu": mu, "logvar": logvar, "y": y, "factor_names": np.array(FACTOR_NAMES)}


def write_run(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path
