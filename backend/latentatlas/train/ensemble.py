"""Ensembles: many beta-VAE / beta-TCVAE runs over a grid of betas x seeds, for the
information-fragments analysis (Murphy, Dillavou & Bassett, TMLR 2025).

An ensemble folder holds ``manifest.json`` (the typed config, and per member its
hyper-parameters and status), ``probe.safetensors`` (the fixed, seeded probe set: dataset
``indices`` and, for procedural datasets, their ground-truth ``factors``) and one ordinary
model folder per member, named ``beta{beta}-seed{seed}`` (config, weights, card), to which
the member's ``probe.safetensors`` adds the posterior means ``mu`` and log-variances
``logvar`` of the probe set, shape (probe points, latent_dim).

Running again resumes: members marked "done" whose folder holds weights and a card are
skipped; the others (pending, interrupted, failed) are (re)trained, continuing from their
own checkpoint when one exists. A member that raises is marked "failed" with its error and
the rest go on. Members run in parallel processes (spawn) on the local machine, or as Ray
tasks on a cluster (``ray_address``; Ray is optional and imported only then).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import cast

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from latentatlas.data.base import FactorDataset
from latentatlas.data.registry import load_dataset
from latentatlas.families.base import GaussianPosterior
from latentatlas.store.ensembles import (
    MANIFEST_FILE,
    MANIFEST_VERSION,
    PROBE_FILE,
    EnsembleConfig,
    EnsembleError,
    ensemble_design,
)
from latentatlas.store.folders import CARD_FILE, WEIGHTS_FILE, load_model_folder, write_json, write_safetensors
from latentatlas.train.loop import train

# --- the probe set -------------------------------------------------------------------


def probe_indices(size: int, dataset_length: int, seed: int) -> np.ndarray:
    """A fixed, seeded, sorted set of distinct dataset indices (all of them if fewer)."""
    size = min(size, dataset_length)
    return np.sort(np.random.default_rng(seed).choice(dataset_length, size=size, replace=False)).astype(np.int64)


def write_probe_set(out: Path, config: EnsembleConfig) -> np.ndarray:
    """Write ``probe.safetensors`` (indices, factors if known) at the ensemble root, or read it back."""
    path = out / PROBE_FILE
    if path.exists():
        return load_file(str(path))["indices"].numpy()
    dataset = load_dataset(config.dataset)
    indices = probe_indices(config.probe_size, len(dataset), config.probe_seed)
    tensors = {"indices": torch.from_numpy(indices)}
    if isinstance(dataset, FactorDataset):
        tensors["factors"] = torch.from_numpy(np.ascontiguousarray(dataset.index_to_factors(indices), dtype=np.int64))
    write_safetensors(path, tensors, metadata={"factor_names": json.dumps(list(dataset.factor_names))})
    return indices


@torch.inference_mode()
def encode_probe(
    folder: Path, indices: np.ndarray, device: str = "cpu", batch_size: int = 250
) -> dict[str, torch.Tensor]:
    """Posterior means and log-variances (probe points x latent_dim) of a VAE folder's model."""
    loaded = load_model_folder(folder, device)
    if not loaded.model.capabilities.posterior:
        raise EnsembleError(f"{folder}: a {loaded.config.model.kind} has no Gaussian posterior to probe")
    model = cast(GaussianPosterior, loaded.model)  # the capability is checked above
    dataset = load_dataset(loaded.config.dataset)
    mus, logvars = [], []
    for start in range(0, len(indices), batch_size):
        mu, logvar = model.posterior(dataset.images(indices[start : start + batch_size], device))
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    return {
        "mu": torch.cat(mus).contiguous(),
        "logvar": torch.cat(logvars).contiguous(),
        "indices": torch.from_numpy(indices),
    }


# --- one member (runs in a worker process or a Ray task) -------------------------------


MEMBER_LOCK = ".lock"


def run_locked(folder: str, name: str, work: Callable[..., dict], *args) -> dict:
    """``work(*args)`` holding an exclusive lock on ``folder/.lock`` (released by the kernel when
    the holder dies), so one process at a time trains a member; never raises (a failure, or the
    lock held elsewhere, comes back as a ``{"status": "failed", ...}`` dict)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        lock = open(Path(folder) / MEMBER_LOCK, "w")  # noqa: SIM115 - held (flock) for the member's whole run, closed below
    except OSError as error:
        return {"status": "failed", "error": f"{type(error).__name__}: {error}", "wall_seconds": 0.0}
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return {
                "status": "failed",
                "error": f"another process is training member {name} ({folder})",
                "wall_seconds": 0.0,
            }
        started = time.perf_counter()
        try:
            return work(*args) | {"wall_seconds": round(time.perf_counter() - started, 2)}
        except Exception as error:
            return {
                "status": "failed",
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(limit=-6),
                "wall_seconds": round(time.perf_counter() - started, 2),
            }


def run_member(config_json: str, name: str, beta: float, seed: int, folder: str, indices: list[int]) -> dict:
    """Train one member, write its probe encodings (``run_locked``: one process per member
    folder; never raises)."""
    return run_locked(folder, name, _train_member, config_json, name, beta, seed, folder, indices)


def _train_member(config_json: str, name: str, beta: float, seed: int, folder: str, indices: list[int]) -> dict:
    config = EnsembleConfig.model_validate_json(config_json)
    out = Path(folder)
    train_config = config.train.model_copy(update={"seed": seed})
    card = train(config.member_model(beta), config.dataset, train_config, out, resume=True, progress=False)
    device = card.get("device", "cpu")
    probe = encode_probe(out, np.asarray(indices, dtype=np.int64), device)
    write_safetensors(out / PROBE_FILE, probe, metadata={"layout": "probe points x latent_dim"})
    card["ensemble"] = {"name": out.parent.name, "member": name, "beta": beta, "seed": seed, "probe": PROBE_FILE}
    write_json(out / CARD_FILE, card)
    return {"status": "done", "steps": card["steps"]}


# --- the manifest --------------------------------------------------------------------


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _is_finished(out: Path, entry: dict) -> bool:
    folder = out / entry["name"]
    return entry.get("status") == "done" and (folder / WEIGHTS_FILE).is_file() and (folder / CARD_FILE).is_file()


def _open_manifest(out: Path, config: EnsembleConfig) -> dict:
    """The existing manifest (checked against ``config``, new members added) or a fresh one."""
    path = out / MANIFEST_FILE
    if path.exists():
        manifest = json.loads(path.read_text())
        if ensemble_design(manifest).source != "trained":
            raise EnsembleError(f"{out} holds imported runs (ensemble import): nothing to train there; use a new --out")
        old = EnsembleConfig.model_validate(manifest["config"])
        if old.identity() != config.identity():
            changed = sorted(k for k, v in config.identity().items() if old.identity().get(k) != v)
            raise EnsembleError(
                f"{out} holds an ensemble with other settings ({', '.join(changed)} differ); "
                "use a new --out folder or the original settings"
            )
        betas = tuple(dict.fromkeys((*old.betas, *config.betas)))
        manifest["config"] = config.model_copy(
            update={"betas": betas, "seeds": max(old.seeds, config.seeds)}
        ).model_dump(mode="json")
    else:
        manifest = {
            "version": MANIFEST_VERSION,
            "name": out.name,
            "created": utc_now(),
            "config": config.model_dump(mode="json"),
            "members": [],
        }
    known = {entry["name"] for entry in manifest["members"]}
    for name, beta, seed in config.members():
        if name not in known:
            manifest["members"].append({"name": name, "beta": beta, "seed": seed, "status": "pending"})
    return manifest


# --- running -------------------------------------------------------------------------


def default_jobs(threads: int) -> int:
    """Parallel members that fit this machine: max(1, cores // threads)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, threads))


def run_ensemble(
    config: EnsembleConfig,
    out: Path,
    jobs: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
) -> dict:
    """Train every member not yet done; returns the manifest (also written to ``out``).

    ``jobs`` parallel processes (default ``default_jobs``; 1 runs in this process);
    ``ray_address`` runs each member as a Ray task instead (``"auto"``, ``"local"`` or
    ``ray://host:port``; an already initialised Ray is used as is).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = _open_manifest(out, config)
    indices = write_probe_set(out, config).tolist()
    config_json = EnsembleConfig.model_validate(manifest["config"]).model_dump_json()
    todo = [entry for entry in manifest["members"] if not _is_finished(out, entry)]
    args = [(config_json, e["name"], e["beta"], e["seed"], str(out / e["name"]), indices) for e in todo]
    run_members(
        manifest,
        out / MANIFEST_FILE,
        todo,
        run_member,
        args,
        jobs=jobs,
        threads=config.train.threads,
        ray_address=ray_address,
        desc=f"ensemble {out.name}",
        progress=progress,
    )
    return manifest


def run_members(
    manifest: dict,
    manifest_path: Path,
    todo: list[dict],
    work: Callable[..., dict],
    args: list[tuple],
    *,
    jobs: int | None,
    threads: int,
    ray_address: str | None,
    desc: str,
    progress: bool,
) -> None:
    """Train the manifest's ``todo`` entries (``work(*arg)`` each, through :func:`dispatch`),
    keeping the manifest at ``manifest_path`` current: ``last_run`` (started, skipped, trained, finished), each
    entry "running" while it runs and then its result, written after every member."""
    manifest["last_run"] = {
        "started": utc_now(),
        "skipped": [e["name"] for e in manifest["members"] if e not in todo],
        "trained": [e["name"] for e in todo],
    }
    for entry in todo:
        entry.update(status="running", started=utc_now())
        entry.pop("error", None)
        entry.pop("traceback", None)
    write_json(manifest_path, manifest)
    bar = tqdm(total=len(todo), desc=desc, unit="member", disable=not progress)

    def finish(entry: dict, result: dict) -> None:
        entry.update(result, finished=utc_now())
        write_json(manifest_path, manifest)
        bar.update(1)
        if result["status"] == "failed":
            tqdm.write(f"member {entry['name']} failed: {result['error']}")

    try:
        dispatch(work, todo, args, finish, jobs=jobs, threads=threads, ray_address=ray_address)
    finally:
        bar.close()
        manifest["last_run"]["finished"] = utc_now()
        write_json(manifest_path, manifest)


def dispatch(
    work: Callable[..., dict],
    todo: list[dict],
    args: list[tuple],
    finish: Callable[[dict, dict], None],
    *,
    jobs: int | None,
    threads: int,
    ray_address: str | None = None,
) -> None:
    """``finish(entry, work(*arg))`` for every member: as Ray tasks with ``ray_address``, else in
    ``jobs`` spawned local processes (default ``default_jobs(threads)``; 1 runs in this process).
    ``work`` is a module-level function that never raises (e.g. through ``run_locked``)."""
    if not todo:
        return
    if ray_address is not None:
        _run_ray(work, todo, args, ray_address, threads, finish)
        return
    workers = min(len(todo), jobs or default_jobs(threads))
    if workers <= 1:
        for entry, arg in zip(todo, args):
            finish(entry, work(*arg))
    else:
        _run_local(work, todo, args, workers, finish)


def die_with_parent(parent: int) -> None:
    """Worker initializer: the worker is killed when the process that started it dies (Linux's
    PR_SET_PDEATHSIG), so a killed ``ensemble train`` leaves no orphans writing member folders."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _run_local(
    work: Callable[..., dict], todo: list[dict], args: list[tuple], workers: int, finish: Callable[[dict, dict], None]
) -> None:
    context = get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        futures: dict[Future, dict] = {pool.submit(work, *arg): entry for entry, arg in zip(todo, args)}
        pending: Iterable[Future] = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    result = future.result()
                except Exception as error:
                    result = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
                finish(futures[future], result)


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise EnsembleError(
            "--ray-address needs Ray, which is not installed: pip install 'ray[default]' "
            "(or leave out --ray-address to run on this machine)"
        ) from error
    return ray


def _run_ray(
    work: Callable[..., dict],
    todo: list[dict],
    args: list[tuple],
    address: str,
    threads: int,
    finish: Callable[[dict, dict], None],
) -> None:
    """One Ray task per member, each asking for ``threads`` CPUs. The cluster's workers must
    have latentatlas installed and see the output folder at the same path (shared disk)."""
    ray = _import_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False) if address == "local" else ray.init(address=address)
    remote = ray.remote(num_cpus=threads, max_retries=0)(work)
    refs = {remote.remote(*arg): entry for entry, arg in zip(todo, args)}
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            try:
                result = ray.get(ref)
            except Exception as error:
                result = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
            finish(refs[ref], result)


def summary(manifest: dict) -> dict:
    """Counts per status, and the failed members with their errors."""
    counts: dict[str, int] = {}
    for entry in manifest["members"]:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    failed = {e["name"]: e.get("error", "") for e in manifest["members"] if e["status"] == "failed"}
    return {
        "members": len(manifest["members"]),
        **counts,
        "skipped": len(manifest.get("last_run", {}).get("skipped", [])),
        "failed_members": failed,
    }
