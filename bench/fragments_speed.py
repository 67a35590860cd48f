"""Time the full pairwise fragments analysis of a synthetic ensemble.

500 channels (50 "models" x 10 channels, a few shared sources plus unique
ones, seeded) over a 1,000-point probe set: information, the 500 x 500 NMI and
VI matrices, and NMI / VI against 4 factors, in one chunked pass
(compute_fragments).  torch intra-op threads and BLAS threads are set
explicitly.  Writes JSON (seconds, sizes, threads, platform).

    python bench/fragments_speed.py [--channels 500] [--probes 1000] [--threads 2]
        [--out bench/results/fragments_speed.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def synthetic(channels: int, probes: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.stack([rng.integers(0, k, size=probes) for k in (3, 5, 8, 10)], axis=1)
    factors = y / (np.array([3, 5, 8, 10]) - 1) + 0.02 * rng.standard_normal(y.shape)
    mixing = rng.standard_normal((channels, 4)) * (rng.random((channels, 4)) < 0.5)
    shared = rng.integers(0, 4, size=channels)
    mixing[np.arange(channels) % 3 == 0] = 0.0
    mixing[np.arange(channels) % 3 == 0, shared[np.arange(channels) % 3 == 0]] = 1.0
    mu = np.tanh(2.0 * mixing @ factors.T) + 0.05 * rng.standard_normal((channels, probes))
    logvar = np.log(rng.uniform(0.08, 0.4, size=(channels, 1)) ** 2) + 0.7 * rng.standard_normal((channels, probes))
    return mu, logvar, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=500)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fragments_speed.json")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import json

    import torch

    torch.set_num_threads(args.threads)
    from latentatlas.fragments import compute_fragments

    mu, logvar, y = synthetic(args.channels, args.probes, args.seed)
    start = time.perf_counter()
    result = compute_fragments(mu, logvar, y)
    seconds = time.perf_counter() - start
    report = {
        "channels": args.channels,
        "probes": args.probes,
        "factors": int(y.shape[1]),
        "seed": args.seed,
        "torch_threads": torch.get_num_threads(),
        "seconds": round(seconds, 3),
        "target_seconds": 60.0,
        "active_channels": int(sum(result["active"])),
        "pair_flops": 2 * args.channels**2 * args.probes**2,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
