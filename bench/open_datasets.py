"""Opening the field's dataset files: time and peak memory to open each official format at full size
and read 1,000 random images (as float tensors, the way training asks for them).

Nothing can be downloaded here, so each format is generated format-exact in a temporary folder
under /tmp (tests/dataset_files.py: official keys, dtypes, storage and C row order; images are
mostly black with a block and 24 pixels naming their row, so they compress better than the real
ones): dSprites 737,280 images in a compressed npz; Shapes3D 480,000 in HDF5 (gzip, one chunk per
image); MPI3D 460,800 in an uncompressed npz (5.7 GB); CelebA 5,000 noisy 178 x 218 JPEGs with
the attribute file (the release has 202,599: opening scales with the attribute file and the
folder listing, reading with the images asked). Each format is measured in its own process, with
one torch thread, after evicting the file from the page cache (posix_fadvise DONTNEED): opening
and reading start cold. Peak RSS is the process's maximum (ru_maxrss), given beside the RSS after
the imports. The folder is deleted at the end. Writes bench/results/open_datasets.json.

    .venv/bin/python bench/open_datasets.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the dev-only helpers live with the tests
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "open_datasets.json"
READS = 1000
CELEBA_IMAGES = 5000


def generate(folder: Path) -> dict[str, dict]:
    """Every format at full size; returns name -> {path, seconds to write, MB on disk}."""
    from dataset_files import write_celeba, write_dsprites, write_mpi3d, write_shapes3d

    writers = {
        "dsprites": lambda: write_dsprites(folder / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"),
        "shapes3d": lambda: write_shapes3d(folder / "3dshapes.h5"),
        "mpi3d": lambda: write_mpi3d(folder / "mpi3d_toy.npz", 460_800),
        "celeba": lambda: write_celeba(folder / "celeba", CELEBA_IMAGES, noise=32),
    }
    made = {}
    for name, write in writers.items():
        started = time.perf_counter()
        path = write()
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        made[name] = {
            "path": str(path),
            "write_seconds": round(time.perf_counter() - started, 1),
            "disk_mb": round(sum(p.stat().st_blocks * 512 for p in files) / 2**20, 1),
        }
        print(name, made[name], flush=True)
    return made


def evict(path: Path) -> None:
    """Drop a file's (or a folder's files') pages from the page cache, so that reading starts cold."""
    for file in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure(name: str, path: Path) -> dict:
    """(In a fresh process) open the dataset and read READS random images; seconds and memory."""
    import resource

    import numpy as np
    import torch

    from latentatlas.data.registry import load_dataset
    from latentatlas.data.spec import DatasetSpec

    torch.set_num_threads(1)
    evict(path)
    after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    dataset = load_dataset(DatasetSpec(name=name, path=str(path)))
    opened = time.perf_counter()
    indices = np.random.default_rng(0).choice(len(dataset), size=READS, replace=False)
    images = dataset.images(indices)
    read = time.perf_counter()
    return {
        "images": len(dataset),
        "factor_sizes": list(dataset.factor_sizes),
        "open_seconds": round(opened - started, 2),
        "read_1000_seconds": round(read - opened, 2),
        "read_ms_per_image": round(1000 * (read - opened) / READS, 3),
        "batch": list(images.shape),
        "rss_after_imports_mb": round(after_imports),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--measure", nargs=2, metavar=("NAME", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return

    from devtools import machine_info

    load_before = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="open-datasets-", dir="/tmp"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        made = generate(folder)
        results = {}
        for name, info in made.items():
            command = [sys.executable, __file__, "--measure", name, info["path"]]
            run = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            results[name] = {**json.loads(run.stdout.strip().splitlines()[-1]), **info}
            del results[name]["path"]
            print(name, results[name], flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = {
        "benchmark": "open_datasets",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(load_before),
        "reads": READS,
        "notes": {
            "files": "generated format-exact at full size (tests/dataset_files.py); mostly-black images compress "
            "better than the real ones",
            "celeba": f"{CELEBA_IMAGES:,} JPEGs of 178 x 218 with noise; the release has 202,599",
            "cache": "each file evicted from the page cache before its process opens it",
            "threads": "one torch thread, one process per format",
        },
        "formats": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["formats"], indent=2))


if __name__ == "__main__":
    main()
