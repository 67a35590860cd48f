"""Time the fragments analysis and whole-space fusion, before / after a change.

Cases (``--cases``, comma-separated):
* ``fragments``: 500 channels (50 "models" x 10 channels, a few shared sources plus unique
  ones, seeded) over a 1,000-point probe set: information, the 500 x 500 NMI and VI
  matrices, and NMI / VI against 4 factors (compute_fragments). Target <= 10 s.
* ``fusion_synthetic``: fuse_spaces on 30 seeded synthetic members of 10 channels x 1,000
  probes (noisy views of one source). Target <= 60 s.
* ``fusion_ensemble``: fuse_spaces on the shipped ensemble's probe encodings
  (models/ensembles/betavae-dsprites: 30 members x 10 channels x 1,000 probes).

torch intra-op and BLAS threads are set explicitly; wall and CPU (process) seconds are both
recorded, the CPU seconds being the fairer comparison on a shared, loaded machine. Each run is stored under ``--label``
(e.g. "before" with PYTHONPATH pointing at a copy of the old code, "after" on the new) in
the JSON, with the load average; ``--values`` also saves the computed arrays (.npz) so two
labels' results can be compared.

    python bench/fragments_speed.py [--cases fragments,fusion_synthetic,fusion_ensemble]
        [--label after] [--threads 1] [--out bench/results/fragments_speed.json] [--values x.npz]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENSEMBLE = ROOT / "models" / "ensembles" / "betavae-dsprites"
TARGETS = {"fragments": 10.0, "fusion_synthetic": 60.0, "fusion_ensemble": 60.0}


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


def synthetic_members(members: int, dims: int, probes: int, seed: int):
    """``members`` noisy views (S, d, N) of one d-dimensional source, per-member noise levels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    source = rng.standard_normal((dims, probes))
    noise = rng.uniform(0.2, 1.0, size=members)
    mu = np.stack([2.0 * (source + s * rng.standard_normal((dims, probes))) for s in noise])
    logvar = np.log(rng.uniform(0.05, 0.5, size=(members, dims, 1))) + 0.3 * rng.standard_normal(mu.shape)
    return mu, logvar


def ensemble_members():
    """The shipped ensemble's probe encodings as (S, d, N) float64 arrays, or None."""
    import json

    import numpy as np
    from safetensors.numpy import load_file

    manifest = ENSEMBLE / "manifest.json"
    if not manifest.is_file():
        return None
    names = [entry["name"] for entry in json.loads(manifest.read_text())["members"]]
    tensors = [load_file(str(ENSEMBLE / name / "probe.safetensors")) for name in names]
    mu = np.stack([t["mu"].T.astype(np.float64) for t in tensors])
    logvar = np.stack([t["logvar"].T.astype(np.float64) for t in tensors])
    return mu, logvar


def run_case(case: str, args: argparse.Namespace, values: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from latentatlas.fragments import compute_fragments
    from latentatlas.fragments.spaces import fuse_spaces

    if case == "fragments":
        mu, logvar, y = synthetic(args.channels, args.probes, args.seed)
        start, cpu = time.perf_counter(), time.process_time()
        result = compute_fragments(mu, logvar, y)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        for key in ("info_bits", "nmi", "vi", "nmi_factor", "vi_factor"):
            values[f"{case}/{key}"] = np.array(result[key], dtype=np.float64)
        return {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "channels": args.channels,
            "probes": args.probes,
            "factors": int(y.shape[1]),
            "active_channels": int(sum(result["active"])),
        }
    loaded = synthetic_members(30, 10, args.probes, args.seed) if case == "fusion_synthetic" else ensemble_members()
    if loaded is None:
        return {"skipped": f"no {ENSEMBLE}"}
    mu, logvar = loaded
    start, cpu = time.perf_counter(), time.process_time()
    fusion = fuse_spaces(mu, logvar, max_steps=args.fusion_steps)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    values[f"{case}/mu"], values[f"{case}/member_nmi"] = fusion.mu, fusion.member_nmi
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "members": int(mu.shape[0]),
        "channels": int(mu.shape[1]),
        "probes": int(mu.shape[2]),
        "steps": fusion.steps,
        "best_step": fusion.best_step,
        "converged": fusion.converged,
        "info_bits": round(fusion.info_bits, 6),
        "mean_nmi": round(fusion.mean_nmi, 6),
        "mean_vi": round(fusion.mean_vi, 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="fragments,fusion_synthetic,fusion_ensemble")
    parser.add_argument("--label", default="after")
    parser.add_argument("--channels", type=int, default=500)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--fusion-steps", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fragments_speed.json")
    parser.add_argument("--values", type=Path, default=None, help="save the computed arrays here (.npz)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import json

    import numpy as np
    import torch

    import latentatlas

    torch.set_num_threads(args.threads)
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if "seconds" in report:  # the old single-run format
        report = {}
    values: dict[str, Any] = {}
    for case in args.cases.split(","):
        load_before = os.getloadavg()[0]
        entry = run_case(case, args, values)
        load_after = os.getloadavg()[0]
        entry.update(
            target_seconds=TARGETS[case],
            load_average_1min=[round(load_before, 2), round(load_after, 2)],
            torch_threads=torch.get_num_threads(),
            code=str(Path(latentatlas.__file__).parent),
            torch=torch.__version__,
            platform=platform.platform(),
            cpu_count=os.cpu_count(),
            when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        report.setdefault(args.label, {})[case] = entry
        print(json.dumps({args.label: {case: entry}}), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.values is not None:
        np.savez(args.values, **values)


if __name__ == "__main__":
    main()
