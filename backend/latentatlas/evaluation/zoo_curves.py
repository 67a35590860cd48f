"""The zoo's claims along training (``latentatlas zoo compare`` on members with a ``metric_curve``).

For every claim (``better`` > ``than`` on a score), dataset and step that both variants' curves
have, the difference of the variants' mean scores over seeds with Welch's 95 % t-interval (the
same test as the final table's claims; not Holm-adjusted: the curve shows how a difference
evolves, the verdict stays the final table's), beside each variant's mean and 95 % t-interval.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from latentatlas.metrics.stats import summarize, welch
from latentatlas.store.folders import CARD_FILE
from latentatlas.store.zoo import ZooConfig

CURVE_TEST = (
    "per step: mean(better) - mean(than) over seeds with Welch's 95 % t-interval (not Holm-adjusted); "
    "each variant's mean with its 95 % t-interval"
)


def member_curves(out: Path, manifest: dict) -> dict[str, dict[str, dict[int, dict[int, dict]]]]:
    """dataset -> variant -> seed -> step -> flat scores, from the members' ``metric_curve``."""
    found: dict[str, dict[str, dict[int, dict[int, dict]]]] = {}
    for entry in manifest["members"]:
        path = Path(out) / entry["name"] / CARD_FILE
        curve = json.loads(path.read_text()).get("metric_curve") if path.is_file() else None
        if curve:
            by_seed = found.setdefault(entry["dataset"], {}).setdefault(entry["variant"], {})
            by_seed[entry["seed"]] = {int(point["step"]): point["values"] for point in curve}
    return found


def _values(by_seed: dict[int, dict[int, dict]], step: int, metric: str) -> np.ndarray:
    return np.array([scores[step][metric] for scores in by_seed.values() if metric in scores.get(step, {})])


def _mean(values: np.ndarray) -> dict:
    s = summarize(values)
    return {"n": s.n, "mean": s.mean, "ci95": [s.low, s.high]}


def curve_claims(out: Path, manifest: dict) -> dict | None:
    """The per-step claims table (``table.json``'s ``curves``), or None when no member has a
    metric curve: ``{"test", "claims": [{"dataset", "better", "than", "metric", "steps": [{"step",
    "better": {n, mean, ci95}, "than": {...}, "diff", "ci95"}]}]}``; diff and its interval are None
    at a step where a variant has fewer than two seeds."""
    curves = member_curves(out, manifest)
    if not curves:
        return None
    config = ZooConfig.model_validate(manifest["config"])
    claims = []
    for claim in config.claims:
        for dataset, variants in curves.items():
            better, than = variants.get(claim.better), variants.get(claim.than)
            if better is None or than is None:
                continue
            steps = sorted(set.intersection(*(set(c) for c in (*better.values(), *than.values()))))
            for metric in claim.metrics:
                rows = []
                for step in steps:
                    a, b = _values(better, step, metric), _values(than, step, metric)
                    if not (a.size and b.size):
                        continue
                    test = welch(a, b) if min(a.size, b.size) >= 2 else None
                    rows.append(
                        {
                            "step": step,
                            "better": _mean(a),
                            "than": _mean(b),
                            "diff": float(a.mean() - b.mean()),
                            "ci95": None if test is None else [test.low, test.high],
                        }
                    )
                if rows:
                    claims.append(
                        {
                            "dataset": dataset,
                            "better": claim.better,
                            "than": claim.than,
                            "metric": metric,
                            "steps": rows,
                        }
                    )
    return {"test": CURVE_TEST, "claims": claims}


def curves_markdown(curves: dict) -> list[str]:
    """Markdown lines of :func:`curve_claims`: one table per claim and score, a row per step."""
    lines = ["", "## Claims along training", "", CURVE_TEST + "."]
    for claim in curves["claims"]:
        lines += [
            "",
            f"### {claim['dataset']}: {claim['better']} > {claim['than']}, {claim['metric']}",
            "",
            f"| step | {claim['better']} | {claim['than']} | difference [95 % CI] |",
            "|---|---|---|---|",
        ]
        for row in claim["steps"]:
            interval = "" if row["ci95"] is None else f" [{row['ci95'][0]:+.3f}, {row['ci95'][1]:+.3f}]"
            means = f"{row['better']['mean']:.3f} | {row['than']['mean']:.3f}"
            lines.append(f"| {row['step']:,} | {means} | {row['diff']:+.3f}{interval} |")
    return lines
