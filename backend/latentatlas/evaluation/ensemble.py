"""Information fragments and hotspots of an ensemble, trained or imported (``latentatlas ensemble analyze``).

Every finished member's probe posteriors (``probe.safetensors``: mu, logvar, probe points x
latent_dim) become channels: stacked member by member into (channels of all members) x probe
arrays, in manifest order, channel ``offset_i + k`` being dimension k of member i (``offset_i``:
the latent sizes of the members before it, ``i * latent_dim`` when all are alike; imported runs,
:mod:`latentatlas.imports.ensemble`, may differ). The manifest is read through its
:class:`~latentatlas.store.ensembles.EnsembleDesign`, trained or imported alike.
``compute_fragments`` gives each channel's information and the channel x channel (and
channel x factor, with the probe set's ground-truth factors) NMI and VI; ``compute_hotspots``
clusters the active channels with OPTICS, its min_samples by default the stated rule
``default_min_samples`` (the seeds per beta of the ensemble's design). The result goes to ``analysis.json`` next to the
manifest, with the members' whole-latent-space information, NMI and VI (``spaces``) and a
fused representation optimised to agree with all members (``fusion``; its posteriors go to
``fusion.safetensors``); for large ensembles the channel x channel matrices go to ``analysis.safetensors``
instead (the JSON then names them under "arrays").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from latentatlas.evaluation.ensemble_null import hotspot_verdicts, untrained_null
from latentatlas.fragments import compute_fragments, compute_hotspots
from latentatlas.fragments.hotspots import MIN_SAMPLES_RULE, default_min_samples
from latentatlas.fragments.spaces import (
    FUSION_MAX_STEPS,
    FUSION_PATIENCE,
    FUSION_TOL,
    FusionObjective,
    FusionResult,
    compute_space_similarity,
    fuse_spaces,
)
from latentatlas.store.ensembles import (
    ANALYSIS_FILE,
    ARRAYS_FILE,
    FUSION_FILE,
    PROBE_FILE,
    EnsembleConfig,
    EnsembleError,
    ensemble_design,
    read_manifest,
)
from latentatlas.store.folders import write_json

JSON_CHANNEL_LIMIT = 400  # above this many channels, the M x M matrices go to safetensors


def _finite_list(values: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def analyze_ensemble(
    out: Path,
    distance: Literal["nmi", "vi"] = "nmi",
    min_samples: int | None = None,
    progress: bool = True,
    on_progress: Callable[[float, str], None] | None = None,
    fusion_steps: int = FUSION_MAX_STEPS,
    fusion_objective: FusionObjective = "exp_neg_vi",
    dest: Path | None = None,
    untrained: bool = True,
) -> dict:
    """Analyse the ensemble in ``out``; writes and returns the analysis (see the module doc).

    ``on_progress(fraction, stage)``, when given, is told how far the analysis got (the
    server's background jobs report it). ``min_samples`` (OPTICS) defaults to
    ``default_min_samples`` of the design's seeds per beta; analysis.json records the rule
    ("given" when passed) and the value. ``fusion_steps`` Adam steps fuse the members'
    spaces at most, from a seeded random start, stopping early on fuse_spaces' tolerance (0: no
    fusion); the fusion summary records the objective's trajectory and where it stopped. The files (analysis.json, and fusion/arrays safetensors) go to
    ``dest`` (default: ``out``; the server writes its runs beside the shipped analysis). With
    ``untrained``, the hotspots are judged against an untrained ensemble (``untrained_null``, and
    per hotspot ``cohesion``, ``beats`` and ``beats_untrained_null``:
    :mod:`latentatlas.evaluation.ensemble_null`)."""

    def report(fraction: float, stage: str) -> None:
        if on_progress is not None:
            on_progress(fraction, stage)

    out = Path(out)
    dest = Path(dest) if dest is not None else out
    dest.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifest = read_manifest(out)
    design = ensemble_design(manifest)
    runs_per_configuration = design.runs_per_configuration
    rule = MIN_SAMPLES_RULE if min_samples is None else "given"
    min_samples = default_min_samples(runs_per_configuration) if min_samples is None else min_samples
    probe_path = out / PROBE_FILE
    if not probe_path.is_file():
        raise EnsembleError(f"{out}: no {PROBE_FILE}; train the ensemble first")
    probe = load_file(str(probe_path))
    with safe_open(str(probe_path), framework="pt") as handle:
        factor_names = json.loads((handle.metadata() or {}).get("factor_names", "[]"))
    indices = probe["indices"].numpy()
    y = probe["factors"].numpy() if "factors" in probe else None

    members, skipped, mus, logvars = [], [], [], []
    entries = manifest["members"]
    bar = tqdm(total=len(entries) + 4, desc=f"analyze {out.name}", unit="step", disable=not progress)
    steps = len(entries) + 4
    for done, entry in enumerate(entries):
        bar.set_postfix_str(entry["name"], refresh=False)
        report(0.9 * done / steps, f"reading {entry['name']}")
        path = out / entry["name"] / PROBE_FILE
        if entry.get("status") != "done" or not path.is_file():
            skipped.append(
                {
                    "name": entry["name"],
                    "reason": f"status {entry.get('status')}" if entry.get("status") != "done" else f"no {PROBE_FILE}",
                }
            )
        else:
            tensors = load_file(str(path))
            mu, logvar = tensors["mu"].double().numpy(), tensors["logvar"].double().numpy()
            if mu.shape != (len(indices), design.latent_dims[entry["name"]]) or not np.array_equal(
                tensors["indices"].numpy(), indices
            ):
                skipped.append(
                    {"name": entry["name"], "reason": f"probe encodings of shape {mu.shape} do not match the probe set"}
                )
            else:
                members.append(entry)
                mus.append(mu.T)
                logvars.append(logvar.T)
        bar.update(1)
    if not members:
        bar.close()
        raise EnsembleError(f"{out}: no finished member with probe encodings to analyse")

    bar.set_postfix_str("fragments")
    report(0.9 * len(entries) / steps, "fragments")
    fragments = compute_fragments(np.concatenate(mus), np.concatenate(logvars), y)
    bar.update(1)
    bar.set_postfix_str("hotspots")
    report(0.9 * (len(entries) + 1) / steps, "hotspots")
    info = np.asarray(fragments["info_bits"], dtype=np.float64)
    matrix = np.array(fragments[distance], dtype=np.float64)  # None (NaN NMI) -> nan
    hotspots = compute_hotspots(
        info,
        nmi=matrix if distance == "nmi" else None,
        vi=matrix if distance == "vi" else None,
        min_samples=min_samples,
    )
    bar.update(1)
    bar.set_postfix_str("spaces")
    report(0.9 * (len(entries) + 2) / steps, "whole latent spaces")
    dims = [len(mu) for mu in mus]
    latent_dim = max(dims)
    space_mu, space_logvar = padded_spaces(mus, logvars)
    spaces = compute_space_similarity(space_mu, space_logvar)
    bar.update(1)
    fusion = None
    if fusion_steps > 0:
        bar.set_postfix_str("fusion")
        report(0.9 * (len(entries) + 3) / steps, "fusion")
        fusion_started = time.perf_counter()
        fusion = fuse_spaces(space_mu, space_logvar, fusion_objective, max_steps=fusion_steps)
        fusion_seconds = time.perf_counter() - fusion_started
        save_file(
            {
                "mu": torch.from_numpy(fusion.mu.T.copy()),
                "logvar": torch.from_numpy(fusion.logvar.T.copy()),
                "indices": torch.from_numpy(indices),
            },
            str(dest / FUSION_FILE),
        )
    bar.update(1)
    bar.close()

    offsets = np.cumsum([0, *dims[:-1]]).tolist()
    channels = [
        {"index": offsets[i] + k, "member": e["name"], "beta": e.get("beta"), "seed": e.get("seed"), "dim": k}
        for i, e in enumerate(members)
        for k in range(dims[i])
    ]
    analysis = {
        "ensemble": manifest.get("name", out.name),
        "kind": design.kind,
        "source": design.source,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "members": [e["name"] for e in members],
        "skipped_members": skipped,
        "latent_dim": latent_dim,
        "latent_dims": dims,
        "probe_size": len(indices),
        "factor_names": factor_names,
        "channels": channels,
        **fragments,
        "hotspots": {
            "distance": distance,
            "min_samples": min_samples,
            "min_samples_rule": rule,
            "runs_per_configuration": runs_per_configuration,
            "channels": hotspots.channels.tolist(),
            "ordering": hotspots.ordering.tolist(),
            "reachability": _finite_list(hotspots.reachability),
            "labels": hotspots.labels.tolist(),
            "clusters": [
                {
                    "label": h.label,
                    "channels": h.members.tolist(),
                    "mean_info_bits": h.mean_info_bits,
                    "members": sorted({channels[c]["member"] for c in h.members.tolist()}),
                }
                for h in hotspots.hotspots
            ],
        },
    }
    if untrained and design.rebuildable:
        report(0.9, "untrained null")
        null = untrained_null(
            EnsembleConfig.model_validate(manifest["config"]),
            members,
            indices,
            (np.concatenate(mus), np.concatenate(logvars), info),
            distance,
            min_samples,
        )
        nmi = np.array(fragments["nmi"], dtype=np.float64)
        hotspot_verdicts(nmi, analysis["hotspots"]["clusters"], latent_dim, null)
        analysis["untrained_null"] = null
    analysis["spaces"] = {
        "members": [e["name"] for e in members],
        "info_bits": spaces.info_bits.tolist(),
        "nmi": [_finite_list(row) for row in spaces.nmi],
        "vi": [_finite_list(row) for row in spaces.vi],
    }
    analysis["fusion"] = (
        None if fusion is None else _fusion_summary(fusion, members, latent_dim, fusion_steps, fusion_seconds)
    )
    arrays_path = dest / ARRAYS_FILE
    if len(channels) > JSON_CHANNEL_LIMIT:
        arrays = {}
        for name in ("nmi", "vi"):
            arrays[name] = torch.from_numpy(np.array(analysis.pop(name), dtype=np.float64))
        save_file(arrays, str(arrays_path))
        analysis["arrays"] = {"file": ARRAYS_FILE, "names": sorted(arrays)}
    elif arrays_path.exists():
        arrays_path.unlink()  # stale, from an earlier, larger analysis
    report(0.95, "writing")
    analysis["seconds"] = round(time.perf_counter() - started, 2)
    write_json(dest / ANALYSIS_FILE, analysis)
    return analysis


def padded_spaces(mus: list[np.ndarray], logvars: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Members' (d_i, N) posteriors as (members, max d_i, N) arrays for the whole-space measures. A
    smaller space is padded with constant channels (mu 0, logvar 0): their Bhattacharyya distance
    is 0 between every pair, so the space's distance D_s = sum_k D_sk, and every measure, is unchanged."""
    dim = max(len(mu) for mu in mus)

    def pad(arrays: list[np.ndarray]) -> np.ndarray:
        return np.stack([np.pad(a, ((0, dim - len(a)), (0, 0))) for a in arrays])

    return pad(mus), pad(logvars)


def _fusion_summary(fusion: FusionResult, members: list[dict], latent_dim: int, max_steps: int, seconds: float) -> dict:
    """The fused space beside the best single members (by mean NMI to the rest, by information),
    with its optimisation: steps taken, the returned iterate's step, whether the tolerance
    stopped it, and the objective every ``history_every`` steps."""
    best = int(np.nanargmax(fusion.member_mean_nmi))
    richest = int(np.nanargmax(fusion.member_info_bits))
    return {
        "objective": fusion.objective,
        "init": fusion.init,
        "start_member": None if fusion.start_member is None else members[fusion.start_member]["name"],
        "max_steps": max_steps,
        "steps": fusion.steps,
        "best_step": fusion.best_step,
        "converged": fusion.converged,
        "tol": FUSION_TOL,
        "patience": FUSION_PATIENCE,
        "seconds": round(seconds, 1),
        "channels": latent_dim,
        "file": FUSION_FILE,
        "info_bits": fusion.info_bits,
        "mean_nmi": fusion.mean_nmi,
        "nmi_above_one": int((fusion.member_nmi > 1.0).sum()),
        "max_nmi": float(fusion.member_nmi.max()),
        "mean_vi": fusion.mean_vi,
        "best_member": members[best]["name"],
        "best_member_info_bits": float(fusion.member_info_bits[best]),
        "best_member_mean_nmi": float(fusion.member_mean_nmi[best]),
        "most_informative_member": members[richest]["name"],
        "most_informative_member_info_bits": float(fusion.member_info_bits[richest]),
        "history_every": fusion.history_every,
        "history": fusion.history,
    }
