"""Train a model zoo (``latentatlas zoo train``): every variant x seed x dataset of a
:class:`~latentatlas.store.zoo.ZooConfig`, each member an ordinary model folder with its card.

Resumable like an ensemble (it shares the ensemble's runner, :func:`~latentatlas.train.ensemble.run_members`): members marked
"done" whose folder holds weights and a card are skipped; the others (pending, interrupted,
failed) are trained again, continuing from their own checkpoint. A rerun may add variants,
seeds or datasets; a member whose definition changed is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from latentatlas.store.folders import CARD_FILE, WEIGHTS_FILE, write_json
from latentatlas.store.zoo import MANIFEST_FILE, MANIFEST_VERSION, ZooConfig, ZooError
from latentatlas.train.ensemble import run_locked, run_members, utc_now
from latentatlas.train.loop import train


def member_definition(config: ZooConfig, member: dict) -> dict:
    """What makes a member what it is (model, data, run): a rerun must not change it."""
    model, spec, run = config.member_run(member["dataset"], member["variant"], member["seed"])
    return {
        "model": model.model_dump(mode="json"),
        "dataset": spec.model_dump(mode="json"),
        "train": run.model_dump(
            mode="json", exclude={"threads", "device", "log_every", "checkpoint_every", "snapshot_every"}
        ),
    }


def run_zoo_member(config_json: str, name: str, folder: str) -> dict:
    """Train one member (``run_locked``: one process per member folder; never raises)."""
    return run_locked(folder, name, _train_zoo_member, config_json, name, folder)


def _train_zoo_member(config_json: str, name: str, folder: str) -> dict:
    config = ZooConfig.model_validate_json(config_json)
    member = next(m for m in config.members() if m["name"] == name)
    model, spec, run = config.member_run(member["dataset"], member["variant"], member["seed"])
    out = Path(folder)
    card = train(model, spec, run, out, resume=True, progress=False)
    card["zoo"] = {"member": name, "variant": member["variant"], "seed": member["seed"], "dataset": member["dataset"]}
    write_json(out / CARD_FILE, card)
    return {"status": "done", "steps": card["steps"], "train_seconds": card["wall_seconds"]}


def _is_finished(out: Path, entry: dict) -> bool:
    folder = out / entry["name"]
    return entry.get("status") == "done" and (folder / WEIGHTS_FILE).is_file() and (folder / CARD_FILE).is_file()


def open_manifest(out: Path, config: ZooConfig) -> dict:
    """The existing manifest (its members checked against ``config``, new ones added) or a fresh one."""
    path = out / MANIFEST_FILE
    manifest: dict[str, Any] = (
        json.loads(path.read_text())
        if path.exists()
        else {
            "version": MANIFEST_VERSION,
            "name": out.name,
            "created": utc_now(),
            "members": [],
        }
    )
    known = {entry["name"]: entry for entry in manifest["members"]}
    for member in config.members():
        definition = member_definition(config, member)
        entry = known.get(member["name"])
        if entry is None:
            manifest["members"].append({**member, "status": "pending", "definition": definition})
        elif entry["definition"] != definition:
            raise ZooError(
                f"{out}: member {member['name']} was trained with other settings; use a new --out folder or the original settings"
            )
    manifest["config"] = config.model_dump(mode="json")
    return manifest


def run_zoo(
    config: ZooConfig,
    out: Path,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    only: Sequence[str] = (),
) -> dict:
    """Train every member not yet done; returns the manifest (also written to ``out/zoo.json``).
    ``workers`` local processes (default: cores // threads), or Ray tasks with ``ray_address``.
    ``only``: shell patterns of member names (``shapes3d/tcvae-*``); the others are left as they
    are (e.g. a shipped zoo's members whose weights were not shipped)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = open_manifest(out, config)
    config_json = config.model_dump_json()
    wanted = [
        entry for entry in manifest["members"] if not only or any(fnmatch(entry["name"], pattern) for pattern in only)
    ]
    todo = [entry for entry in wanted if not _is_finished(out, entry)]
    args = [(config_json, e["name"], str(out / e["name"])) for e in todo]
    run_members(
        manifest,
        out / MANIFEST_FILE,
        todo,
        run_zoo_member,
        args,
        jobs=workers,
        threads=config.train.threads,
        ray_address=ray_address,
        desc=f"zoo {out.name}",
        progress=progress,
    )
    return manifest
