"""Score a model zoo with one protocol (``latentatlas zoo evaluate``) and compare its variants
(``latentatlas zoo compare``).

Every member of a dataset is scored on the same factor samples (``ZooProtocol``: seeded), with
the same metrics and the same estimators: InfoMEC's continuous k-NN estimator (Ross 2014) on
every latent, quantised codes included (a QLAE's z_q values), and its discrete plug-in
estimator on the code indices as the extra score ``infomec_codes`` where a model has codes.
Beside each score the card gets its shuffled-rows null (the member's latents permuted against
the factors, ``null_repeats`` times) and the dataset's ceiling (perfect latents on the same
samples, ``DATASET/ceiling.json``). The comparison gives per variant mean, sd and the 95 %
t-interval over seeds, and the claims file's tested statements (``zoo_claims``): every variant
against its own null, every claim's difference and equivalence, Holm-corrected per dataset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from latentatlas.data.base import FactorDataset
from latentatlas.data.registry import load_dataset
from latentatlas.evaluation.baselines import protocol_ceiling, protocol_record
from latentatlas.evaluation.disentanglement import encode_factor_samples
from latentatlas.evaluation.zoo_claims import TESTS, statements_markdown, tested_statements
from latentatlas.evaluation.zoo_controls import metric_curve, score_control, snapshot_steps
from latentatlas.evaluation.zoo_curves import curve_claims, curves_markdown
from latentatlas.evaluation.zoo_like import like_markdown, like_with_like
from latentatlas.metrics.catalogue import display_order, scores
from latentatlas.metrics.stats import summarize
from latentatlas.store.folders import CARD_FILE, WEIGHTS_FILE, load_model_folder, write_json, write_text
from latentatlas.store.zoo import CEILING_FILE, TABLE_JSON, TABLE_MD, ZooConfig, ZooProtocol, read_manifest

ESTIMATOR = (
    "InfoMEC: continuous k-NN estimator (Ross 2014, k = 10) on every latent, quantised codes included; "
    "infomec_codes: the discrete plug-in estimator on code indices (models with codes only); "
    "MIG and modularity: 20-bin plug-in MI; DCI-est: dci_fast, histogram gradient boosting, an estimate of DCI, not DCI"
)


CEILING_LATENTS = "one per factor: its value index (as code indices for the codes metrics)"


def protocol_samples(dataset: FactorDataset, protocol: ZooProtocol) -> np.ndarray:
    """The factor samples every member of a dataset is scored on."""
    return dataset.sample_factors(protocol.samples, np.random.default_rng(protocol.seed))


def dataset_ceiling(dataset: FactorDataset, protocol: ZooProtocol) -> dict:
    """Scores of perfect latents (one per factor, its value) on the protocol's samples."""
    y = protocol_samples(dataset, protocol)
    return {
        "dataset": dataset.name,
        "protocol": protocol.model_dump(mode="json"),
        "latents": CEILING_LATENTS,
        "scores": protocol_ceiling(y, protocol),
    }


def score_member(folder: Path, protocol: ZooProtocol) -> dict:
    """A member's scores, flags and shuffled-rows null under ``protocol`` (not written)."""
    started = time.perf_counter()
    loaded = load_model_folder(folder, "cpu")
    dataset = load_dataset(loaded.config.dataset)
    assert isinstance(dataset, FactorDataset)  # zoo members train on dsprites or shapes3d: both have factors
    y = protocol_samples(dataset, protocol)
    z, codes = encode_factor_samples(loaded, dataset, y)
    return {
        "protocol": protocol.model_dump(mode="json"),
        "estimator": ESTIMATOR,
        **protocol_record(z, codes, y, protocol, started),
    }


def _member_work(folder: Path, card: dict, protocol: ZooProtocol) -> list[str]:
    """What a member's card lacks under ``protocol``: "scores", "control", "curve" (none: up to date)."""
    evaluation = card.get("zoo", {}).get("evaluation", {})
    if evaluation.get("protocol") != protocol.model_dump(mode="json"):
        return ["scores", "control", "curve"]
    work = [] if "snapped" in evaluation or "prequantised" in evaluation else ["control"]
    scored = [point["step"] for point in card.get("metric_curve", [])[:-1]]
    snapshots = [step for step in snapshot_steps(folder) if step < card["steps"]]
    if snapshots and scored != snapshots:  # no snapshots (not shipped): a curve stays as it is
        work.append("curve")
    return work


def _evaluate_member(
    folder: Path,
    card: dict,
    protocol: ZooProtocol,
    y: np.ndarray,
    ceiling: dict,
    force: bool,
    log: Callable[[str], None],
) -> None:
    """Fill in what ``card`` lacks (everything with ``force``): the protocol's scores with their
    null and ``ceiling`` (``zoo.evaluation``), the quantisation control (``zoo.evaluation.snapped``
    or ``.prequantised``) and, for a member with snapshots, ``metric_curve``; ``y``: the
    protocol's factor samples of the member's dataset."""
    work = ["scores", "control", "curve"] if force else _member_work(folder, card, protocol)
    name = card.get("zoo", {}).get("member", folder.name)
    if "scores" in work:
        card.setdefault("zoo", {})["evaluation"] = score_member(folder, protocol) | {"ceiling": ceiling}
        card.pop("metric_curve", None)
        seconds = card["zoo"]["evaluation"]["seconds"]
        log(f"{name}: encode {seconds['encode']:.1f} s, scores {seconds['scores']:.1f} s, null {seconds['null']:.1f} s")
    evaluation = card["zoo"]["evaluation"]
    if "control" in work:
        kind, control = score_control(folder, y, protocol)
        evaluation[kind] = control
        log(f"{name}: {kind} control {sum(control['seconds'].values()):.1f} s")
    if "curve" in work and snapshot_steps(folder):
        started = time.perf_counter()
        card["metric_curve"] = metric_curve(folder, y, protocol, card["steps"], evaluation["scores"])
        log(f"{name}: metric curve, {len(card['metric_curve'])} points, {time.perf_counter() - started:.1f} s")


def evaluate_zoo(out: Path, force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Score every finished member not yet scored under the zoo's protocol, and add the
    quantisation control and the metric curve where a card lacks them (all anew with ``force``);
    writes each card's ``zoo.evaluation`` (with the dataset's ceiling, and ``snapped`` or
    ``prequantised``), ``metric_curve`` (members with snapshots) and ``DATASET/ceiling.json``.
    Returns ``{"scored": [...], "skipped": [...], "ceilings": {...}}``."""
    out = Path(out)
    manifest = read_manifest(out)
    config = ZooConfig.model_validate(manifest["config"])
    protocol = config.evaluation
    ceilings, samples = {}, {}
    for d in config.datasets:
        path = out / d.name / CEILING_FILE
        ceiling = json.loads(path.read_text()) if path.is_file() else None
        current = {"protocol": protocol.model_dump(mode="json"), "latents": CEILING_LATENTS}
        dataset = load_dataset(d.spec())
        assert isinstance(dataset, FactorDataset)  # a zoo dataset is dsprites or shapes3d: both have factors
        if force or ceiling is None or {key: ceiling.get(key) for key in current} != current:
            ceiling = dataset_ceiling(dataset, protocol)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, ceiling)
        ceilings[d.name] = ceiling["scores"]
        samples[d.name] = protocol_samples(dataset, protocol)
    scored, skipped = [], []
    for entry in manifest["members"]:
        folder = out / entry["name"]
        card_path = folder / CARD_FILE
        if entry.get("status") != "done" or not card_path.is_file():
            skipped.append(entry["name"])
            continue
        if not (folder / WEIGHTS_FILE).is_file():  # not kept (the shipped zoo's non-showcase members)
            log(f"{entry['name']}: no weights here, not scored")
            skipped.append(entry["name"])
            continue
        card = json.loads(card_path.read_text())
        if not force and not _member_work(folder, card, protocol):
            skipped.append(entry["name"])
            continue
        _evaluate_member(folder, card, protocol, samples[entry["dataset"]], ceilings[entry["dataset"]], force, log)
        json.dumps(card, allow_nan=False)
        write_json(card_path, card)
        scored.append(entry["name"])
    return {"scored": scored, "skipped": skipped, "ceilings": ceilings}


# --- comparison --------------------------------------------------------------------

# Table columns: (flat score name, header): PSNR, then the catalogue's zoo scores in display
# order, under their labels (dci_fast's say it is an estimate).
COLUMNS = (("psnr_db", "PSNR dB"), *((score.key, score.label) for score in scores(display_order()) if score.in_zoo))


def _member_scores(out: Path, manifest: dict) -> dict[str, dict[str, list[dict]]]:
    """dataset -> variant -> [per seed: {"seed", "scores" (with psnr_db), "null", "flags", "steps", ...}]."""
    found: dict[str, dict[str, list[dict]]] = {}
    for entry in manifest["members"]:
        path = out / entry["name"] / CARD_FILE
        if not path.is_file():
            continue
        card = json.loads(path.read_text())
        evaluation = card.get("zoo", {}).get("evaluation")
        if evaluation is None:
            continue
        scores = dict(evaluation["scores"])
        if card.get("heldout", {}).get("psnr_db") is not None:
            scores["psnr_db"] = float(card["heldout"]["psnr_db"])
        found.setdefault(entry["dataset"], {}).setdefault(entry["variant"], []).append(
            {
                "seed": entry["seed"],
                "scores": scores,
                "null": evaluation["null"],
                "flags": evaluation["flags"],
                "steps": card["steps"],
                "batch_size": card["batch_size"],
                "train_seconds": card["wall_seconds"],
                "eval_seconds": sum(evaluation["seconds"].values()),
            }
        )
    return found


def _summary_dict(values: list[float]) -> dict:
    s = summarize(np.array(values))
    return {"n": s.n, "mean": s.mean, "sd": s.sd, "ci95": [s.low, s.high], "values": values}


def compare_zoo(out: Path) -> dict:
    """The comparison (also written to ``table.json`` and ``table.md``): per dataset and variant
    each score's mean, sd, 95 % t-interval and per-seed values, its null (mean, per seed) and the
    ceiling; the tested statements of the claims file (:mod:`latentatlas.evaluation.zoo_claims`:
    null tests, claims' differences, equivalence tests, one Holm family per dataset)."""
    out = Path(out)
    manifest = read_manifest(out)
    config = ZooConfig.model_validate(manifest["config"])
    members = _member_scores(out, manifest)
    datasets: dict = {}
    for d in config.datasets:
        ceiling = (
            json.loads((out / d.name / CEILING_FILE).read_text())["scores"]
            if (out / d.name / CEILING_FILE).is_file()
            else {}
        )
        rows = {}
        for variant in config.variants:
            runs = sorted(members.get(d.name, {}).get(variant.name, []), key=lambda r: r["seed"])
            if not runs:
                continue
            names = sorted(set.intersection(*(set(r["scores"]) for r in runs)))
            rows[variant.name] = {
                "kind": variant.kind,
                "options": variant.options,
                "train": variant.train,
                "seeds": [r["seed"] for r in runs],
                "steps": runs[0]["steps"],
                "batch_size": runs[0]["batch_size"],
                "train_seconds": _summary_dict([r["train_seconds"] for r in runs]),
                "eval_seconds": _summary_dict([r["eval_seconds"] for r in runs]),
                "scores": {name: _summary_dict([r["scores"][name] for r in runs]) for name in names},
                "null_mean": {
                    name: float(np.mean([r["null"]["mean"][name] for r in runs]))
                    for name in names
                    if name in runs[0]["null"]["mean"]
                },
                "null_values": {
                    name: [r["null"]["mean"][name] for r in runs] for name in names if name in runs[0]["null"]["mean"]
                },
                "flags": {
                    flag: sum(r["flags"].get(flag, False) for r in runs)
                    for flag in sorted({f for r in runs for f in r["flags"]})
                },
            }
        datasets[d.name] = {"variants": rows, "ceiling": ceiling}
    statements = tested_statements(config, datasets, out.name)
    images = config.train.steps * config.train.batch_size
    result = {
        "zoo": out.name,
        "estimator": ESTIMATOR,
        "protocol": config.evaluation.model_dump(mode="json"),
        "budget": {
            "steps": config.train.steps,
            "batch_size": config.train.batch_size,
            "images_per_member": images,
            "paper_images": config.paper_samples,
            "fraction_of_paper": images / config.paper_samples,
            "paper_budget": config.paper_budget,
        },
        "test": TESTS,
        "datasets": datasets,
        **statements,
    }
    curves, like = curve_claims(out, manifest), like_with_like(out, manifest)
    if curves is not None:
        result["curves"] = curves
    if like is not None:
        result["like_with_like"] = like
    write_json(out / TABLE_JSON, _finite(result))
    write_text(out / TABLE_MD, comparison_markdown(result))
    return result


def _finite(node):
    """NaN / inf -> None, for strict JSON."""
    if isinstance(node, dict):
        return {k: _finite(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_finite(v) for v in node]
    if isinstance(node, float) and not np.isfinite(node):
        return None
    return node


def _cell(summary: dict | None, digits: int = 3) -> str:
    if summary is None:
        return "–"
    if summary["n"] < 2:
        return f"{summary['mean']:.{digits}f} (n=1)"
    low, high = summary["ci95"]
    return f"{summary['mean']:.{digits}f} ± {summary['sd']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _percent(fraction: float) -> str:
    """A share as a percentage: two decimals, or two significant digits below 0.01 %."""
    percent = 100 * fraction
    return f"{percent:.2f} %" if percent >= 0.01 or percent == 0 else f"{percent:.2g} %"


def comparison_markdown(result: dict) -> str:
    """Markdown of ``compare_zoo``'s result: budget and estimator, per dataset the variants'
    mean ± sd [95 % CI] with the null and ceiling rows, then the claims' tests."""
    budget = result["budget"]
    protocol = result["protocol"]
    lines = [
        f"# Zoo `{result['zoo']}`",
        "",
        f"Budget: {budget['steps']:,} steps x batch {budget['batch_size']} = {budget['images_per_member']:,} images per member, "
        f"{_percent(budget['fraction_of_paper'])} of the paper's {budget['paper_images']:,} ({budget.get('paper_budget', 'Hsu et al.: 200k x 128')}).",
        f"Protocol: {protocol['samples']:,} factor samples per dataset (seed {protocol['seed']}, 2/3 train rows), the same for every member; "
        f"null: shuffled rows, {protocol['null_repeats']} permutations per member; ceiling: perfect latents on the same samples.",
        f"Estimators: {result['estimator']}.",
        "Cells: mean ± sd [95 % t-interval] over seeds.",
    ]
    for name, data in result["datasets"].items():
        variants = data["variants"]
        if not variants:
            continue
        present = [(key, header) for key, header in COLUMNS if any(key in v["scores"] for v in variants.values())]
        lines += [
            "",
            f"## {name}",
            "",
            "| variant | seeds | " + " | ".join(h for _, h in present) + " |",
            "|---|---|" + "---|" * len(present),
        ]
        for vname, row in variants.items():
            cells = [_cell(row["scores"].get(key), 1 if key == "psnr_db" else 3) for key, _ in present]
            lines.append(f"| {vname} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
        null = [
            np.mean([v["null_mean"][k] for v in variants.values() if k in v["null_mean"]])
            if any(k in v["null_mean"] for v in variants.values())
            else None
            for k, _ in present
        ]
        lines.append(
            "| null (shuffled rows, mean over members; each member's own in the tests) | | "
            + " | ".join("–" if v is None else f"{v:.3f}" for v in null)
            + " |"
        )
        lines.append(
            "| ceiling (perfect latents; codes scores: perfect codes) | | "
            + " | ".join(f"{data['ceiling'][k]:.3f}" if k in data["ceiling"] else "–" for k, _ in present)
            + " |"
        )
        flagged = {v: row["flags"].get("infomec.infoe_near_zero", 0) for v, row in variants.items()}
        if any(flagged.values()):
            lines.append("")
            lines.append(
                "InfoE near 0 (InfoM/InfoC not meaningful) for: "
                + ", ".join(f"{v} ({n} seeds)" for v, n in flagged.items() if n)
            )
        times = ", ".join(
            f"{v} {np.median(row['train_seconds']['values']):.0f} s + {np.median(row['eval_seconds']['values']):.0f} s"
            for v, row in variants.items()
        )
        lines += ["", f"Per member (1 CPU thread, median over seeds), train + evaluate: {times}."]
    lines += statements_markdown(result, dict(COLUMNS))
    if (result.get("like_with_like") or {}).get("claims"):
        lines += like_markdown(result["like_with_like"])
    if result.get("curves"):
        lines += curves_markdown(result["curves"])
    return "\n".join(lines) + "\n"
