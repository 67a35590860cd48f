"""The zoo's tested statements, per dataset, from its claims file (the zoo config's ``claims``,
``equivalence_bounds`` and ``null_tests``):

- **null tests**: each variant x score of ``null_test_scores`` "clears its null": the one-sided
  paired t-test over seeds of score - the member's own shuffled-rows null mean;
- **differences**: each claim x metric, Welch's two-sided test of ``better`` - ``than``;
- **equivalence tests**: each claim x metric, TOST over seed-matched members within the claim's bound;
- **within-member claims** (``score_claims``): one score of a variant's members above another of
  the same members (e.g. Cao et al.'s top-k MED above full-dimension MED), the two-sided paired
  t-test over seeds of higher - lower.

The Holm family of a dataset is every one of these tests the claims file defines on it, fixed
before any score is read (a test whose scores are missing counts with p = 1, so the family never
shrinks); adding a dataset adds a new family. Beside every t-based p stands the exact rank test of
the same hypothesis (signed-rank for the paired tests, rank-sum for Welch's), Holm-adjusted in the
same family: a verdict the t-test establishes and the rank test does not "needs t" (the
t-approximation, i.e. roughly normal seed-to-seed differences).
"""

from __future__ import annotations

import numpy as np

from latentatlas.evaluation.zoo_tests import against_null, equivalence, rank_sum_p, signed_rank_p
from latentatlas.metrics.stats import Difference, holm, paired, welch
from latentatlas.store.zoo import ZooClaim, ZooConfig, ZooScoreClaim

ALPHA = 0.05
TESTS = (
    "null tests: one-sided paired t-test over seeds of score - the member's own shuffled-rows null mean; "
    "differences: Welch's unequal-variance t-test over seeds (two-sided); "
    "equivalence: TOST, two one-sided paired t-tests over seed-matched members within the claims file's bound; "
    "within-member claims: paired t-test over seeds (two-sided) of the member's two scores; "
    "Holm over each dataset's family (every test the claims file defines on it), alpha 0.05; "
    "rank sensitivity: the exact Wilcoxon signed-rank (paired) or rank-sum (Welch) test of the same hypothesis, "
    "Holm-adjusted in the same family; 'needs t' marks a verdict only the t-test establishes"
)
KINDS = {"null": "null_tests", "difference": "claims", "equivalence": "equivalence_tests", "within": "score_claims"}
"""Each kind of tested statement and the result's list that holds it."""


def _per_seed(row: dict | None, metric: str, nulls: bool = False) -> dict[int, float]:
    """seed -> a variant row's score of ``metric`` (its own null mean with ``nulls``); {} when absent."""
    if row is None:
        return {}
    values = row.get("null_values", {}).get(metric) if nulls else row["scores"].get(metric, {}).get("values")
    return dict(zip(row["seeds"], values)) if values is not None else {}


def _paired(a: dict[int, float], b: dict[int, float]) -> tuple[list[int], np.ndarray, np.ndarray]:
    seeds = sorted(set(a) & set(b))
    return seeds, np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])


def _null_test(dataset: str, variant: str, metric: str, row: dict | None) -> dict:
    seeds, scores, nulls = _paired(_per_seed(row, metric), _per_seed(row, metric, nulls=True))
    out = {"dataset": dataset, "variant": variant, "metric": metric, "seeds": seeds}
    if len(seeds) < 2:
        return out | {"missing": True, "p": 1.0, "p_rank": 1.0}
    test = against_null(scores, nulls)
    return out | {
        "mean": float(scores.mean()),
        "null_mean": float(nulls.mean()),
        "diff": test.diff,
        "low95": test.low,
        "t": test.t,
        "df": test.df,
        "p": test.p,
        "p_rank": test.p_rank,
    }


def _difference(dataset: str, claim: ZooClaim, metric: str, a: dict | None, b: dict | None) -> dict:
    out = {"dataset": dataset, "better": claim.better, "than": claim.than, "metric": metric, "source": claim.source}
    va, vb = _per_seed(a, metric), _per_seed(b, metric)
    if min(len(va), len(vb)) < 2:
        return out | {"missing": True, "p": 1.0, "p_rank": 1.0}
    xa, xb = np.array(list(va.values())), np.array(list(vb.values()))
    return out | _two_sided(welch(xa, xb), rank_sum_p(xa, xb, "two-sided"))


def _equivalence(dataset: str, config: ZooConfig, claim: ZooClaim, metric: str, a: dict | None, b: dict | None) -> dict:
    bound, stated = config.equivalence_bound(claim, metric)
    seeds, xa, xb = _paired(_per_seed(a, metric), _per_seed(b, metric))
    out = {
        "dataset": dataset,
        "better": claim.better,
        "than": claim.than,
        "metric": metric,
        "bound": bound,
        "bound_stated_in": stated,
        "seeds": seeds,
    }
    if len(seeds) < 2:
        return out | {"missing": True, "p": 1.0, "p_rank": 1.0}
    test = equivalence(xa, xb, bound)
    return out | {
        "diff": test.diff,
        "ci90": [test.low, test.high],
        "p_lower": test.p_lower,
        "p_upper": test.p_upper,
        "p": test.p,
        "p_rank": test.p_rank,
    }


def _within(dataset: str, claim: ZooScoreClaim, row: dict | None) -> dict:
    seeds, higher, lower = _paired(_per_seed(row, claim.higher), _per_seed(row, claim.lower))
    out = {
        "dataset": dataset,
        "variant": claim.variant,
        "higher": claim.higher,
        "lower": claim.lower,
        "source": claim.source,
        "seeds": seeds,
    }
    if len(seeds) < 2:
        return out | {"missing": True, "p": 1.0, "p_rank": 1.0}
    return out | _two_sided(paired(higher, lower), signed_rank_p(higher - lower, "two-sided"))


def _two_sided(test: Difference, p_rank: float) -> dict:
    """A two-sided t-test's record (difference, 95 % interval, t, df, p) and its rank test's p."""
    return {"diff": test.diff, "ci95": [test.low, test.high], "t": test.t, "df": test.df, "p": test.p, "p_rank": p_rank}


def _verdict(kind: str, test: dict, established: bool) -> str:
    if not established:
        return "not established"
    if kind == "null":
        return "clears its null"
    if kind == "equivalence":
        return f"equivalent within ±{test['bound']:g}"
    return "holds" if test["diff"] > 0 else "reversed"


def tested_statements(config: ZooConfig, datasets: dict, zoo: str) -> dict:
    """``null_tests``, ``claims`` (the differences), ``equivalence_tests`` and ``families`` for
    ``compare_zoo``'s ``datasets`` (dataset -> {"variants": name -> row with ``seeds``, per-seed
    ``scores`` and ``null_values``}); every test gets ``p_holm``, ``p_rank_holm``, ``verdict``
    and ``needs_t``."""
    out: dict = {"null_tests": [], "claims": [], "equivalence_tests": [], "score_claims": [], "families": {}}
    members = config.members()
    for d in config.datasets:
        rows = datasets.get(d.name, {}).get("variants", {})
        ran = list(dict.fromkeys(m["variant"] for m in members if m["dataset"] == d.name))
        family: list[tuple[str, dict]] = [
            ("null", _null_test(d.name, v, metric, rows.get(v))) for v in ran for metric in config.null_test_scores(v)
        ]
        for claim in config.claims:
            if not {claim.better, claim.than} <= set(ran):
                continue
            a, b = rows.get(claim.better), rows.get(claim.than)
            for metric in claim.metrics:
                family.append(("difference", _difference(d.name, claim, metric, a, b)))
                family.append(("equivalence", _equivalence(d.name, config, claim, metric, a, b)))
        family += [("within", _within(d.name, c, rows.get(c.variant))) for c in config.score_claims if c.variant in ran]
        if not family:
            continue
        adjusted = holm(np.array([test["p"] for _, test in family]))
        adjusted_rank = holm(np.array([test["p_rank"] for _, test in family]))
        for (kind, test), p_holm, p_rank_holm in zip(family, adjusted, adjusted_rank):
            test["p_holm"], test["p_rank_holm"] = float(p_holm), float(p_rank_holm)
            test["verdict"] = _verdict(kind, test, p_holm < ALPHA)
            test["needs_t"] = bool(p_holm < ALPHA <= p_rank_holm)
            out[KINDS[kind]].append(test)
        out["families"][d.name] = {
            "id": f"{zoo}/{d.name}/claims-{config.claims_digest()}",
            "dataset": d.name,
            "claims_digest": config.claims_digest(),
            "correction": "Holm",
            "alpha": ALPHA,
            "size": len(family),
            "counts": {kind: sum(k == kind for k, _ in family) for kind in KINDS},
            "missing": sum(bool(test.get("missing")) for _, test in family),
        }
    return out


# --- Markdown -----------------------------------------------------------------------------


def _p(value: float) -> str:
    return f"{value:.2g}"


def statements_markdown(result: dict, labels: dict[str, str]) -> list[str]:
    """The tested statements of ``compare_zoo``'s result as Markdown lines: per dataset its family,
    the null tests (a variants x scores grid) and the claims (difference, equivalence, verdicts)."""
    lines = ["", "## Tested statements", "", result["test"] + ".", ""]
    for name, family in result["families"].items():
        nulls = [t for t in result["null_tests"] if t["dataset"] == name]
        claims = [t for t in result["claims"] if t["dataset"] == name]
        equivalent = {
            (t["better"], t["than"], t["metric"]): t for t in result["equivalence_tests"] if t["dataset"] == name
        }
        within = [t for t in result.get("score_claims", []) if t["dataset"] == name]
        established = [t for t in (*nulls, *claims, *equivalent.values(), *within) if t["verdict"] != "not established"]
        lines += [
            f"### {name}: family `{family['id']}`",
            "",
            f"{family['size']} tests ({family['counts']['null']} null, {family['counts']['difference']} difference, "
            f"{family['counts']['equivalence']} equivalence, {family['counts'].get('within', 0)} within members; {family['missing']} without scores, counted at p = 1). "
            f"{len(established)} verdicts established; {sum(t['needs_t'] for t in established)} of them need the "
            "t-approximation (the exact rank test, Holm-adjusted in the same family, does not reach them).",
            "",
        ]
        lines += _null_grid(nulls, labels) if nulls else []
        lines += (
            []
            if not claims
            else [
                "",
                "| claim | score | Welch difference [95 % CI] | p (Holm) | rank-sum p (Holm) | bound | paired difference "
                "[90 % CI] | TOST p (Holm) | signed-rank TOST p (Holm) | verdict |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
        )
        for c in claims:
            e = equivalent[(c["better"], c["than"], c["metric"])]
            verdicts = [t["verdict"] + (" (needs t)" if t["needs_t"] else "") for t in (c, e)]
            verdict = " and ".join(v for v in verdicts if not v.startswith("not")) or "not established"
            lines.append(
                f"| {c['better']} > {c['than']} | {labels.get(c['metric'], c['metric'])} | "
                + (
                    "– | – | – |"
                    if c.get("missing")
                    else f"{c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] | "
                    f"{_p(c['p'])} ({_p(c['p_holm'])}) | {_p(c['p_rank'])} ({_p(c['p_rank_holm'])}) |"
                )
                + f" ±{e['bound']:g} ({e['bound_stated_in']}) | "
                + (
                    "– | – | – |"
                    if e.get("missing")
                    else f"{e['diff']:+.3f} [{e['ci90'][0]:+.3f}, {e['ci90'][1]:+.3f}] | "
                    f"{_p(e['p'])} ({_p(e['p_holm'])}) | {_p(e['p_rank'])} ({_p(e['p_rank_holm'])}) |"
                )
                + f" {verdict} |"
            )
        lines += _within_table(within, labels)
        lines.append("")
    return lines


def _within_table(tests: list[dict], labels: dict[str, str]) -> list[str]:
    """Within-member claims: paired difference higher - lower over seeds, p, rank p, verdict."""
    if not tests:
        return []
    lines = [
        "",
        "Within members (one score of each member above another of the same member; paired over seeds):",
        "",
        "| variant | claim | paired difference [95 % CI] | p (Holm) | signed-rank p (Holm) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for t in tests:
        claim = f"{labels.get(t['higher'], t['higher'])} > {labels.get(t['lower'], t['lower'])}"
        numbers = (
            "– | – | – |"
            if t.get("missing")
            else f"{t['diff']:+.3f} [{t['ci95'][0]:+.3f}, {t['ci95'][1]:+.3f}] | {_p(t['p'])} ({_p(t['p_holm'])}) | "
            f"{_p(t['p_rank'])} ({_p(t['p_rank_holm'])}) |"
        )
        lines.append(f"| {t['variant']} | {claim} | {numbers} {t['verdict']}{' (needs t)' if t['needs_t'] else ''} |")
    return lines


def _null_grid(nulls: list[dict], labels: dict[str, str]) -> list[str]:
    """Variants x scores: score - own null (mean over seeds), Holm-adjusted p, ✓ where it clears."""
    metrics = list(dict.fromkeys(t["metric"] for t in nulls))
    variants = list(dict.fromkeys(t["variant"] for t in nulls))
    cell = {(t["variant"], t["metric"]): t for t in nulls}

    def text(test: dict | None) -> str:
        if test is None:
            return ""
        if test.get("missing"):
            return "–"
        mark = " ✓" + ("ᵗ" if test["needs_t"] else "") if test["verdict"] == "clears its null" else ""
        return f"{test['diff']:+.3f} ({_p(test['p_holm'])}){mark}"

    lines = [
        "Against each member's own null: mean over seeds of score - null (Holm-adjusted one-sided p); "
        "✓ clears it, ᵗ only by the t-test.",
        "",
        "| variant | " + " | ".join(labels.get(m, m) for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    lines += ["| " + v + " | " + " | ".join(text(cell.get((v, m))) for m in metrics) + " |" for v in variants]
    return lines
