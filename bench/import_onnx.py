"""How long ``latentatlas import onnx`` takes on the shipped vae-dsprites exported with
torch.onnx.export (encoder -> mu, logvar; decoder), validation included: reading and checking
both graphs, the round trip on held-out images, the card's held-out PSNR over the 1,000
held-out dSprites images, writing and reloading the folder. Also the stages alone, and the
imported model's encode/decode latency beside the native torch model's.

Writes JSON (default bench/results/import_onnx.json).

    .venv/bin/python bench/import_onnx.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT / "tests")]

from import_helpers import VAE_FOLDER, export_vae
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.imports import import_onnx
from latentatlas.imports.onnx_graphs import GraphFile
from latentatlas.store.folders import load_model_folder


def best(seconds: list[float]) -> dict:
    return {"best": min(seconds), "median": sorted(seconds)[len(seconds) // 2], "runs": len(seconds)}


def timed(work, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "import_onnx.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = DatasetSpec(name="dsprites")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        encoder, decoder = export_vae(root / "graphs")
        imports = []
        for run in range(args.repeats):
            out = root / "models" / f"vae-onnx-{run}"
            started = time.perf_counter()
            card = import_onnx(encoder, decoder, spec, out, latent_output="mu")
            imports.append(time.perf_counter() - started)
        read = timed(lambda: (GraphFile(encoder, "encoder"), GraphFile(decoder, "decoder")), args.repeats)
        dataset = load_dataset(spec)
        holdout = timed(lambda: dataset.images(dataset.holdout_indices), args.repeats)
        imported = load_model_folder(root / "models" / "vae-onnx-0").model
        native = load_model_folder(VAE_FOLDER).model.eval()
        images = dataset.images(dataset.holdout_indices[:64])
        latency = {}
        with torch.inference_mode():
            latents = native.encode(images).latent
            for name, model in (("onnx", imported), ("torch", native)):
                latency[name] = {
                    "encode_64": best(timed(lambda m=model: m.encode(images), args.repeats * 4)),
                    "decode_64": best(timed(lambda m=model: m.decode(latents), args.repeats * 4)),
                    "decode_1": best(timed(lambda m=model: m.decode(latents[:1]), args.repeats * 20)),
                }
        shutil.rmtree(root / "models")
    result = {
        "what": "latentatlas import onnx of models/vae-dsprites exported with torch.onnx.export (opset 17), "
        "validation included",
        "timing": f"wall seconds; torch and ONNX Runtime at {args.threads} intra-op thread(s)",
        "graph_bytes": {part: card["imported"][part]["bytes"] for part in ("encoder", "decoder")},
        "import_seconds": best(imports),
        "stages": {
            "read_check_and_open_both_graphs": best(read),
            "render_1000_heldout_images": best(holdout),
        },
        "heldout": card["heldout"],
        "native_heldout_psnr_db": json.loads((VAE_FOLDER / "card.json").read_text())["heldout"]["psnr_db"],
        "latency_seconds": latency,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"import_seconds": result["import_seconds"], "heldout": result["heldout"]}))


if __name__ == "__main__":
    main()
