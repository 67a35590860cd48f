"""The zoo's within-member claims (``ZooConfig.score_claims``): one score of a variant's members
above another score of the same members, e.g. Cao et al.'s "top-k MED is high while the
full-dimension scores are low". Each seed gives a pair (its two scores), and the paired t-test
over seeds (:func:`~latentatlas.metrics.stats.paired`) tests the mean difference; the comparison
Holm-adjusts these p-values together with the between-variant claims'.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from latentatlas.metrics.stats import paired
from latentatlas.store.zoo import ZooConfig

PAIRED_TEST = "paired t-test over seeds (two-sided) of the two scores of each member"


def score_claim_tests(config: ZooConfig, datasets: dict[str, Any]) -> list[dict[str, Any]]:
    """Per score claim and dataset its variant ran on (``datasets`` as ``compare_zoo`` builds it:
    per variant each score's per-seed ``values`` in seed order): the paired test, unadjusted.
    A claim whose variant lacks a score, or has fewer than 2 seeds, is left out."""
    tests = []
    for claim in config.score_claims:
        for name, data in datasets.items():
            scores = data["variants"].get(claim.variant, {}).get("scores", {})
            if claim.higher not in scores or claim.lower not in scores or scores[claim.higher]["n"] < 2:
                continue
            test = paired(np.array(scores[claim.higher]["values"]), np.array(scores[claim.lower]["values"]))
            tests.append(
                {
                    "kind": "within members",
                    "dataset": name,
                    "variant": claim.variant,
                    "higher": claim.higher,
                    "lower": claim.lower,
                    "source": claim.source,
                    "diff": test.diff,
                    "ci95": [test.low, test.high],
                    "t": test.t,
                    "df": test.df,
                    "p": test.p,
                }
            )
    return tests


def score_claims_markdown(tests: list[dict[str, Any]]) -> list[str]:
    """The markdown lines of the within-member claims' table (none when there are none)."""
    if not tests:
        return []
    lines = [
        "",
        "## Within-member claims",
        "",
        PAIRED_TEST + "; Holm-adjusted together with the claims above.",
        "",
        "| dataset | variant | claim | difference [95 % CI] | p | p (Holm) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in tests:
        lines.append(
            f"| {c['dataset']} | {c['variant']} | {c['higher']} > {c['lower']} "
            f"| {c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] | {c['p']:.3g} | {c['p_holm']:.3g} "
            f"| {c['verdict']} |"
        )
    return lines
