"""What `latentatlas serve` imports before it answers /readyz: not torch (indexing the models folder
reads the families' declarations, :mod:`latentatlas.families.configs`; the API's modules, which
import torch, load after ready), and, once the API is built, neither scikit-learn, scipy (any of
it: stats, optimize for geoopt, special and sparse for InfoMEC), onnx, onnxruntime, h5py, joblib nor
Jinja2, which together took 1.5 s of the start-up on this machine (bench/startup_memory.py); the
metrics, St-RKM's optimiser, the ONNX graphs, the Shapes3D file and the pages import them when
first used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[2] / "backend"
HEAVY = ("sklearn", "scipy", "geoopt", "onnx", "onnxruntime", "h5py", "joblib", "jinja2")
PROBE = f"""
import json, sys
from pathlib import Path
import torch
import latentatlas.cli
from latentatlas.serve.app import create_app
from latentatlas.serve.registry import ModelRegistry
ModelRegistry(Path(sys.argv[1]), torch.device("cpu"))  # indexing every shipped folder
print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))
"""

INDEX_PROBE = """
import json, sys
from pathlib import Path
import latentatlas.cli
from latentatlas.config import Settings
from latentatlas.serve.startup import StartingServer, index_models
registry, ensembles = index_models(Settings(models_dir=Path(sys.argv[1])))
assert registry.models and not registry.failed and not ensembles.failed, (registry.failed, ensembles.failed)
print(json.dumps(sorted(name for name in ("torch", *HEAVY) if name in sys.modules)))
""".replace("HEAVY", repr(HEAVY))


def probe(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter holds after ``code`` (over the shipped models)."""
    models = BACKEND.parent / "models"
    out = subprocess.run(
        [sys.executable, "-c", code, str(models)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(BACKEND), "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_cli_and_the_index_of_every_shipped_model_need_no_torch():
    assert probe(INDEX_PROBE) == []


def test_the_cli_and_server_start_without_the_heavy_libraries():
    assert probe(PROBE) == []
