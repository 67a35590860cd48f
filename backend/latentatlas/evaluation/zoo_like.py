"""The zoo's claims compared like with like (``latentatlas zoo compare`` on members with controls).

A code model's latents are discrete and a continuous model's are not, and the estimators respond
to discreteness itself; the controls (:mod:`latentatlas.evaluation.zoo_controls`) give every
member both forms. For every claim, dataset and score where both variants have their controls:

- ``discrete``: code members' own scores (z_q) against continuous members' ``snapped`` scores;
- ``continuous``: code members' ``prequantised`` scores (z_c) against continuous members' own;

each with the difference of means and Welch's 95 % interval and p over seeds (as the final
claims; not Holm-adjusted: these say how much of a difference survives the control, the verdicts
stay the final table's). Per variant the controls' means and 95 % t-intervals and their nulls'
mean are listed too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from latentatlas.metrics.stats import summarize, welch
from latentatlas.store.folders import CARD_FILE
from latentatlas.store.zoo import ZooConfig

LIKE_TEST = (
    "discrete: code members' own scores against continuous members' snapped ones; continuous: code members' "
    "pre-quantisation scores against continuous members' own; mean difference over seeds, Welch's 95 % interval "
    "and two-sided p, not Holm-adjusted"
)


def _forms(evaluation: dict) -> dict | None:
    """A member's scores in both forms ({"kind", "discrete", "continuous", "null"}), None without a control."""
    if "prequantised" in evaluation:
        control = evaluation["prequantised"]
        return {
            "kind": "prequantised",
            "discrete": evaluation["scores"],
            "continuous": control["scores"],
            "null": control,
        }
    if "snapped" in evaluation:
        control = evaluation["snapped"]
        return {"kind": "snapped", "discrete": control["scores"], "continuous": evaluation["scores"], "null": control}
    return None


def member_forms(out: Path, manifest: dict) -> dict[str, dict[str, list[dict]]]:
    """dataset -> variant -> [per seed with a control: :func:`_forms`]."""
    found: dict[str, dict[str, list[dict]]] = {}
    for entry in manifest["members"]:
        path = Path(out) / entry["name"] / CARD_FILE
        if not path.is_file():
            continue
        forms = _forms(json.loads(path.read_text()).get("zoo", {}).get("evaluation", {}))
        if forms is not None:
            found.setdefault(entry["dataset"], {}).setdefault(entry["variant"], []).append(forms)
    return found


def _difference(a: list[dict], b: list[dict], form: str, metric: str) -> dict | None:
    x = np.array([m[form][metric] for m in a if metric in m[form]])
    y = np.array([m[form][metric] for m in b if metric in m[form]])
    if min(x.size, y.size) < 2:
        return None
    test = welch(x, y)
    return {"n": [int(x.size), int(y.size)], "diff": test.diff, "ci95": [test.low, test.high], "p": test.p}


def _control_summary(runs: list[dict]) -> dict:
    control = runs[0]["null"]
    names = sorted(set.intersection(*(set(r["null"]["scores"]) for r in runs)))
    out = {}
    for name in names:
        s = summarize(np.array([r["null"]["scores"][name] for r in runs]))
        out[name] = {
            "n": s.n,
            "mean": s.mean,
            "ci95": [s.low, s.high],
            "null_mean": float(np.mean([r["null"]["null"]["mean"][name] for r in runs])),
        }
    return {"kind": runs[0]["kind"], "rule": control.get("rule", ""), "scores": out}


def like_with_like(out: Path, manifest: dict) -> dict | None:
    """``table.json``'s ``like_with_like`` (None when no member has a control): ``{"test",
    "controls": {dataset: {variant: {"kind", "rule", "scores": {name: {n, mean, ci95, null_mean}}}}},
    "claims": [{"dataset", "better", "than", "metric", "discrete": {n, diff, ci95, p} | None,
    "continuous": ...}]}``."""
    forms = member_forms(out, manifest)
    if not forms:
        return None
    config = ZooConfig.model_validate(manifest["config"])
    controls = {
        dataset: {variant: _control_summary(runs) for variant, runs in variants.items()}
        for dataset, variants in forms.items()
    }
    claims = []
    for claim in config.claims:
        for dataset, variants in forms.items():
            a, b = variants.get(claim.better), variants.get(claim.than)
            if not a or not b:
                continue
            for metric in claim.metrics:
                row = {form: _difference(a, b, form, metric) for form in ("discrete", "continuous")}
                if any(row.values()):
                    claims.append(
                        {"dataset": dataset, "better": claim.better, "than": claim.than, "metric": metric, **row}
                    )
    return {"test": LIKE_TEST, "controls": controls, "claims": claims}


def like_markdown(like: dict) -> list[str]:
    """Markdown lines of :func:`like_with_like`'s claims."""

    def cell(test: dict | None) -> str:
        if test is None:
            return "–"
        return f"{test['diff']:+.3f} [{test['ci95'][0]:+.3f}, {test['ci95'][1]:+.3f}], p {test['p']:.3g}"

    lines = [
        "",
        "## Claims like with like (quantisation controls)",
        "",
        like["test"] + ".",
        "",
        "| dataset | claim | score | both discrete | both continuous |",
        "|---|---|---|---|---|",
    ]
    for c in like["claims"]:
        lines.append(
            f"| {c['dataset']} | {c['better']} > {c['than']} | {c['metric']} | {cell(c['discrete'])} "
            f"| {cell(c['continuous'])} |"
        )
    return lines
