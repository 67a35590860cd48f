"""The zoo protocol's controls and metric curves (``latentatlas zoo evaluate``, issue 22 items 3-4).

Quantisation controls, so that a code model and a continuous one are compared like with like:

- every continuous member (no ``codes`` capability) is also scored with its latents snapped to
  10 quantile levels per dimension (:func:`latentatlas.evaluation.snapping.quantile_snap`, edges
  and level values from the protocol's train rows, the first ceil(2/3) of its samples): the
  continuous k-NN InfoMEC on the snapped values, as a QLAE's z_q are scored, and the discrete
  plug-in estimator on the level indices (``infomec_codes``, as on a QLAE's code indices);
  card key ``snapped``;
- every code member is also scored on its pre-quantisation output z_c (the ``codes``
  capability's :meth:`~latentatlas.families.base.DiscreteCodes.prequantised`), continuous, no
  codes; card key ``prequantised``.

Each control carries its own shuffled-rows null (the controlled latents permuted against the
factors, as the member's scores), so a control is read against the null of the same latents.

Metric curves: a member trained with ``snapshot_every`` has weights-only snapshots
(``snapshots/step-N.safetensors``); each is scored with the protocol (scores only, no null) and,
with the final weights' scores, becomes the card's ``metric_curve``:
``[{"step": N, "values": {flat score name: value}}, ...]`` in step order.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from latentatlas.data.base import FactorDataset
from latentatlas.data.registry import load_dataset
from latentatlas.evaluation.baselines import protocol_record, protocol_scores
from latentatlas.evaluation.disentanglement import CHUNK, encode_factor_samples
from latentatlas.evaluation.snapping import SNAP_LEVELS, quantile_snap
from latentatlas.families.base import DiscreteCodes, capable
from latentatlas.metrics.report import default_train_rows
from latentatlas.store.checkpoints import list_snapshots, load_snapshot
from latentatlas.store.folders import LoadedModel, load_model_folder
from latentatlas.store.zoo import ZooProtocol

SNAP_RULE = (
    f"each latent dimension snapped to {SNAP_LEVELS} quantile levels: edges the higher empirical quantiles "
    f"j/{SNAP_LEVELS} of the protocol's train rows, values clipped to their range, each level's value the mean "
    "of its train values; InfoMEC's k-NN estimator on the snapped values, infomec_codes on the level indices"
)
PREQUANTISED_RULE = (
    "the encoder's continuous output z_c before it snaps to the codebooks, scored as a continuous latent"
)


def _member(folder: Path) -> tuple[LoadedModel, FactorDataset]:
    loaded = load_model_folder(folder, "cpu")
    dataset = load_dataset(loaded.config.dataset)
    assert isinstance(dataset, FactorDataset)  # zoo members train on dsprites or shapes3d: both have factors
    return loaded, dataset


def control_kind(loaded: LoadedModel) -> str:
    """``prequantised`` for a model with codes, ``snapped`` for a continuous one."""
    return "prequantised" if loaded.model.capabilities.codes else "snapped"


@torch.inference_mode()
def encode_prequantised(loaded: LoadedModel, dataset: FactorDataset, factors: np.ndarray) -> np.ndarray:
    """The pre-quantisation latents z_c (n, D) float64 of the images of ``factors`` (n, K)."""
    model = loaded.model.eval()
    codes = capable(model, DiscreteCodes)
    parts = [
        codes.prequantised(dataset.render(factors[s : s + CHUNK], model.device)).cpu().numpy()
        for s in range(0, len(factors), CHUNK)
    ]
    return np.concatenate(parts).astype(np.float64)


def controlled_latents(
    loaded: LoadedModel, dataset: FactorDataset, y: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(control name, latents, codes or None) of a member's control on factor samples ``y``."""
    kind = control_kind(loaded)
    if kind == "prequantised":
        return kind, encode_prequantised(loaded, dataset, y), None
    z, _ = encode_factor_samples(loaded, dataset, y)
    train = default_train_rows(len(y))
    snapped, levels = quantile_snap(z[:train], z)
    return kind, snapped, levels


def score_control(folder: Path, y: np.ndarray, protocol: ZooProtocol) -> tuple[str, dict]:
    """A member's quantisation control (card key, entry): its rule, scores, flags and own
    shuffled-rows null, in the shape of the member's protocol scores."""
    started = time.perf_counter()
    loaded, dataset = _member(folder)
    kind, z, codes = controlled_latents(loaded, dataset, y)
    return kind, {
        "rule": SNAP_RULE if kind == "snapped" else PREQUANTISED_RULE,
        **protocol_record(z, codes, y, protocol, started),
    }


def snapshot_steps(folder: Path) -> list[int]:
    """The steps of a member's snapshots, in order."""
    return list(list_snapshots(folder))


def metric_curve(folder: Path, y: np.ndarray, protocol: ZooProtocol, final_step: int, final_scores: dict) -> list:
    """Every snapshot's protocol scores, then the final weights' (``final_scores`` at
    ``final_step``): ``[{"step", "values"}]`` in step order."""
    loaded, dataset = _member(folder)
    curve = []
    for step, path in list_snapshots(folder).items():
        if step >= final_step:
            continue
        load_snapshot(loaded.model, path)
        z, codes = encode_factor_samples(loaded, dataset, y)
        curve.append({"step": step, "values": protocol_scores(z, codes, y, protocol)[0]})
    return [*curve, {"step": final_step, "values": dict(final_scores)}]
