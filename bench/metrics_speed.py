"""Time every metric on the public fixture next to the reference implementations.

Single-threaded BLAS / OpenMP / torch (as the reference timings were taken);
exact DCI additionally runs its per-factor fits in ``--n-jobs`` processes.
Writes JSON: per metric our seconds (best of ``--repeats``; DCI once), the
reference's ``ref_seconds`` from the fixture's expected JSON, the speed-up,
our values and the reference values.

    python bench/metrics_speed.py [--out bench/results/metrics_speed.json] [--skip-dci]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from latentatlas import metrics

ROOT = Path(__file__).resolve().parents[1]
DCI_KEYS = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")


def _cases(fixture: Path, n_jobs: int, skip_dci: bool) -> dict[str, tuple[str | None, Callable[[], dict]]]:
    """name -> (ref_seconds key, call returning our values)."""
    with np.load(fixture) as data:
        n = int(data["train_rows"])
        z, zq, y = data["z"], data["z_quantized"], data["y"]
    zt, ze, zqt, yt, ye = z[:n], z[n:], zq[:n], y[:n], y[n:]

    def dci_values(result) -> dict:
        return {key: getattr(result, key) for key in DCI_KEYS}

    def modularity_explicitness() -> dict:
        explicitness = metrics.compute_explicitness(zt, yt, ze, ye)
        return {
            "modularity": metrics.compute_modularity(zt, yt).modularity,
            "explicitness_train": explicitness.train,
            "explicitness_test": explicitness.test,
        }

    def infomec(latents: np.ndarray, discrete: bool) -> dict:
        result = metrics.compute_infomec(latents, yt, discrete_latents=discrete, seed=0)
        return {"infom": result.infom, "infoc": result.infoc, "infoe": result.infoe}

    cases: dict[str, tuple[str | None, Callable[[], dict]]] = {
        "mig": ("mig", lambda: {"mig": metrics.compute_mig(zt, yt).mig}),
        "sap": ("sap", lambda: {"sap": metrics.compute_sap(zt, yt, ze, ye).sap}),
        "sap_continuous": (
            "sap_continuous",
            lambda: {"sap_continuous": metrics.compute_sap(zt, yt, ze, ye, continuous_factors=True).sap},
        ),
        "modularity_explicitness": ("modularity_explicitness", modularity_explicitness),
        "infomec_continuous": ("infomec_continuous", lambda: infomec(zt, False)),
        "infomec_quantized": ("infomec_quantized", lambda: infomec(zqt, True)),
        "dci_fast": (None, lambda: dci_values(metrics.compute_dci_fast(zt, yt, ze, ye, seed=0))),
    }
    if not skip_dci:
        cases["dci"] = ("dci", lambda: dci_values(metrics.compute_dci(zt, yt, ze, ye, n_jobs=n_jobs, seed=0)))
    return cases


def _reference_values(expected: dict, name: str) -> dict:
    if name in ("dci", "dci_fast"):
        return {key: expected["dci"][key]["ref"] for key in DCI_KEYS}
    if name.startswith("infomec_"):
        variant = expected["infomec"][name.removeprefix("infomec_")]
        return {key: variant[key]["ref"] for key in ("infom", "infoc", "infoe")}
    if name == "modularity_explicitness":
        return {key: expected[key]["ref"] for key in ("modularity", "explicitness_train", "explicitness_test")}
    return {name: expected[name]["ref"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture", type=Path, default=ROOT / "tests/fixtures/metrics-public.npz")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/metrics_speed.json")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per fast metric (best is kept)")
    parser.add_argument("--n-jobs", type=int, default=2, help="processes for exact DCI")
    parser.add_argument("--skip-dci", action="store_true", help="leave out exact DCI (about a minute)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    expected = json.loads(args.fixture.with_suffix(".expected.json").read_text())
    rows = {}
    with threadpool_limits(limits=1):
        for name, (ref_key, run) in _cases(args.fixture, args.n_jobs, args.skip_dci).items():
            repeats = 1 if name == "dci" else args.repeats
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                values = run()
                times.append(time.perf_counter() - start)
            ref_seconds = expected["ref_seconds"][ref_key] if ref_key else None
            rows[name] = {
                "seconds": min(times),
                "ref_seconds": ref_seconds,
                "speedup": ref_seconds / min(times) if ref_seconds else None,
                "values": values,
                "ref_values": _reference_values(expected, name),
            }
            speedup = f"{rows[name]['speedup']:6.1f}x" if ref_seconds else "      -"
            print(f"{name:<25} {min(times):8.3f} s   ref {ref_seconds if ref_seconds else '-':>7} s  {speedup}")

    report = {
        "fixture": str(args.fixture.relative_to(ROOT) if args.fixture.is_relative_to(ROOT) else args.fixture),
        "timing": "wall seconds, best of repeats (exact DCI: one run); BLAS/OpenMP/torch at 1 thread",
        "repeats": args.repeats,
        "dci_n_jobs": args.n_jobs,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "metrics": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
