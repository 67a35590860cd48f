"""MED and top-k MED on a wide synthetic representation: time and peak memory.

D = 2048 latents, 10 000 train and 5 000 test rows, K = 5 discrete factors (seeded): two
near-copies of each factor, linear mixtures of all factors, pure noise and dead (constant) latents,
the kind of high-dimensional representation MED is meant for.  One thread (BLAS / OpenMP).
Reported: wall and CPU seconds of ``compute_med`` and of its mutual-information stage, the same MI
matrix computed the authors' way (np.histogram + np.digitize per latent, one
sklearn ``mutual_info_score`` per latent x factor pair) with the largest difference, and memory:
the process's peak RSS and the largest allocation of the MI stage (tracemalloc).

    python bench/med_speed.py [--out bench/results/med_speed.json] [--skip-reference-loop]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import platform
import resource
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from sklearn.metrics import mutual_info_score
from threadpoolctl import threadpool_limits

from latentatlas.metrics._mi import NUM_BINS, histogram_mutual_info
from latentatlas.metrics.med import compute_med

ROOT = Path(__file__).resolve().parents[1]
CARDS = (4, 5, 6, 8, 10)
LAYOUT = {"near_copies": 2 * len(CARDS), "mixtures": 1500, "noise": 500}  # the rest are dead
T = TypeVar("T")


def synthetic(n_rows: int, n_latents: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded factors (n_rows, K) and latents (n_rows, n_latents), filled a column block at a time."""
    rng = np.random.default_rng(seed)
    y = np.column_stack([rng.integers(0, card, n_rows) for card in CARDS])
    scaled = y / (np.array(CARDS) - 1.0) - 0.5
    copies, mixtures, noise = LAYOUT["near_copies"], LAYOUT["mixtures"], LAYOUT["noise"]
    weights = np.zeros((len(CARDS), n_latents))
    weights[np.arange(copies) % len(CARDS), np.arange(copies)] = 1.0
    weights[:, copies : copies + mixtures] = rng.normal(size=(len(CARDS), mixtures))
    noise_sd = np.zeros(n_latents)
    noise_sd[:copies] = 0.05
    noise_sd[copies : copies + mixtures] = 0.5
    noise_sd[copies + mixtures : copies + mixtures + noise] = 1.0
    z = np.empty((n_rows, n_latents))
    for start in range(0, n_latents, 256):
        cols = slice(start, start + 256)
        z[:, cols] = scaled @ weights[:, cols] + noise_sd[cols] * rng.standard_normal((n_rows, z[:, cols].shape[1]))
    return z, y


def timed(run: Callable[[], T]) -> tuple[T, dict[str, float]]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = run()
    return value, {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def reference_loop_mutual_info(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The authors' computation: per latent np.histogram + np.digitize, per pair mutual_info_score."""
    bins = [np.digitize(column, np.histogram(column, NUM_BINS)[1][:-1]) for column in z.T]
    return np.array([[mutual_info_score(factor, column) for factor in y.T] for column in bins])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/med_speed.json")
    parser.add_argument("--latents", type=int, default=2048)
    parser.add_argument("--train-rows", type=int, default=10_000)
    parser.add_argument("--test-rows", type=int, default=5_000)
    parser.add_argument("--topk", type=str, default="1,2,10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-reference-loop", action="store_true", help="leave out the per-pair MI loop")
    args = parser.parse_args()
    topk = tuple(int(k) for k in args.topk.split(","))

    load_before = os.getloadavg()
    z, y = synthetic(args.train_rows + args.test_rows, args.latents, args.seed)
    split = args.train_rows
    z_train, y_train, z_test, y_test = z[:split], y[:split], z[split:], y[split:]
    rss_inputs = current_rss_mb()
    with threadpool_limits(limits=1):
        result, med_time = timed(lambda: compute_med(z_train, y_train, z_test, y_test, topk=topk))
        rss_peak = peak_rss_mb()
        info, mi_time = timed(lambda: histogram_mutual_info(z_train, y_train))
        tracemalloc.start()
        histogram_mutual_info(z_train, y_train)
        mi_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        reference = None
        if not args.skip_reference_loop:
            loop_mi, loop_time = timed(lambda: reference_loop_mutual_info(z_train, y_train))
            reference = {
                **loop_time,
                "max_abs_diff_nats": float(np.abs(loop_mi - info.mutual_info).max()),
                "speedup_wall": loop_time["wall_s"] / mi_time["wall_s"],
                "speedup_cpu": loop_time["cpu_s"] / mi_time["cpu_s"],
            }

    report = {
        "setup": {
            "latents": args.latents,
            "train_rows": args.train_rows,
            "test_rows": args.test_rows,
            "factor_cardinalities": list(CARDS),
            "layout": LAYOUT | {"dead": args.latents - sum(LAYOUT.values())},
            "seed": args.seed,
            "num_bins": NUM_BINS,
            "topk": list(topk),
            "threads": 1,
        },
        "seconds": {
            "compute_med": med_time,
            "mutual_info_stage": mi_time,
            "reference_loop_mutual_info": reference,
        },
        "memory_mb": {
            "inputs_rss": rss_inputs,
            "peak_rss": rss_peak,
            "peak_over_inputs": rss_peak - rss_inputs,
            "inputs_arrays": (z.nbytes + y.nbytes) / 2**20,
            "mutual_info_stage_peak_traced": mi_peak_mb,
        },
        "result": result.as_dict(),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "note": "wall time is inflated on a shared machine; cpu_s is the single thread's own time",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["seconds"], indent=2))
    print(json.dumps(report["memory_mb"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
