"""The metric catalogue: every disentanglement score declared once.

A :class:`Metric` is one computation (``compute_metrics`` name, ``--metrics`` choice, card key);
its :class:`Score` entries are the numbers it yields under flat dotted keys (DCI gives D, C and I;
InfoMEC gives M, C and E). Each entry says what it costs, how it is computed (``compute``), what its
null is (shuffled rows, or drawn latent rows for the vote-based scores; :mod:`~latentatlas.metrics.baselines`),
that its ceiling is perfect latents, whether a card always gets that null and ceiling, and whether it
runs by default. ``compute_metrics``, the CLI, ``evaluate``, the baselines, the zoo, the card and the
app (``GET /api/metric-catalogue``) all read it; adding a metric is one entry here (see
docs/adding-a-metric.md).

Three sources: ``latents`` metrics run on (z, y) split into train and test rows; ``codes`` metrics
run on a quantised model's code indices (beside their ``variant_of`` metric); ``interventions``
metrics render fresh images with chosen factors held fixed (a ``GroundTruthDataset``) and vote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from latentatlas.metrics.computations import (
    Output,
    Source,
    Votes,
    beta_vae,
    beta_vae_images,
    dci,
    dci_fast,
    explicitness,
    factor_vae,
    factor_vae_corrected,
    factor_vae_images,
    infomec,
    infomec_codes,
    med,
    mig,
    modularity,
    sap,
    sap_continuous,
)
from latentatlas.metrics.med import REPORTED_TOPK

GROUPS = {
    "InfoMEC": "information-theoretic modularity, compactness and explicitness (Hsu et al. 2023)",
    "MI": "mutual-information and predictor scores of the disentanglement_lib protocol (Locatello et al. 2019)",
    "DCI": "disentanglement, completeness, informativeness from boosted trees (Eastwood & Williams 2018)",
    "votes": "interventional scores: a classifier votes which factor was held fixed",
    "MED": "mutual-information entropy disentanglement, and over each factor's k best latents (Cao et al. 2022)",
}
"""The groups in display order, with what they are."""


@dataclass(frozen=True)
class Score:
    """One number: ``key`` is its flat dotted name in a result (``dci.disentanglement``), ``shown``
    whether the app's bars and comparison show it, ``zoo`` whether the zoo's table has a column for
    it (default: as ``shown``), ``baseline`` whether it gets a null and a ceiling."""

    key: str
    label: str
    description: str
    shown: bool = True
    baseline: bool = True
    zoo: bool | None = None

    @property
    def in_zoo(self) -> bool:
        return self.shown if self.zoo is None else self.zoo


@dataclass(frozen=True)
class Metric:
    """One computation and the scores it yields.

    ``cost`` says what it costs in words; ``seconds`` (rough seconds on 10,000 samples on a
    2-core CPU) and ``images`` (images an interventional score renders and encodes for given
    votes) apportion evaluate's progress bar. ``baselines``: whether a card always gets the
    null and ceiling (``"on request"``: ``evaluate --dci-baselines``). ``stands_in_for``: shown
    only where that metric is missing (an estimate of it). ``reuses``: equal to that metric's
    result when every latent is active, so not recomputed then.
    """

    name: str
    title: str
    group: str
    paper: str
    source: Source
    compute: Callable[..., Output]
    scores: tuple[Score, ...]
    cost: str
    seconds: float = 0.0
    images: Callable[[Votes], int] | None = None
    default: bool = True
    zoo: bool = True
    null: Literal["shuffled rows", "drawn latent rows"] = "shuffled rows"
    ceiling: str = "perfect latents"
    baselines: Literal["always", "on request", "never"] = "always"
    caveat: str = ""
    variant_of: str | None = None
    stands_in_for: str | None = None
    reuses: str | None = None
    flags: tuple[str, ...] = field(default=())

    @property
    def reference(self) -> str:
        """The compute function, as ``module.name``."""
        return f"{self.compute.__module__}.{self.compute.__qualname__}"


# --- compute functions: (Split) -> Output, or (represent, dataset, seed, votes) -> Output -------------


_DCI_SCORES = (
    ("disentanglement", "D", "disentanglement: each latent predicts one factor"),
    ("completeness", "C", "completeness: each factor is predicted by one latent"),
    ("informativeness_train", "I train", "informativeness: train accuracy of the boosted trees"),
    ("informativeness_test", "I", "informativeness: test accuracy of the boosted trees"),
)


def _dci_scores(name: str, label: str, description: str) -> tuple[Score, ...]:
    """The four DCI scores of metric ``name``, labelled ``label`` D/C/I..., described by ``description``
    with ``{about}`` filled in; the train informativeness is not shown."""
    return tuple(
        Score(
            f"{name}.{key}",
            f"{label} {short}",
            description.format(about=about),
            shown=key != "informativeness_train",
        )
        for key, short, about in _DCI_SCORES
    )


_INFOMEC_SCORES = (
    ("infom", "InfoM", "modularity: each latent informs about one factor"),
    ("infoc", "InfoC", "compactness: each factor is captured by one latent"),
    ("infoe", "InfoE", "explicitness: factors are linearly decodable from the latents"),
)


def _votes_scores(name: str, label: str, description: str) -> tuple[Score, ...]:
    train = Score(
        f"{name}.train_accuracy", f"{label} train", f"{description}: train accuracy", shown=False, baseline=False
    )
    return train, Score(f"{name}.eval_accuracy", label, description)


CATALOGUE: tuple[Metric, ...] = (
    Metric(
        "mig",
        "Mutual information gap",
        "MI",
        "Chen et al. 2018, Isolating Sources of Disentanglement in VAEs",
        "latents",
        mig,
        (Score("mig", "MIG", "mutual information gap (Chen et al. 2018)"),),
        cost="milliseconds (20-bin histograms)",
        seconds=0.05,
    ),
    Metric(
        "dci",
        "DCI (exact)",
        "DCI",
        "Eastwood & Williams 2018, A Framework for the Quantitative Evaluation of Disentangled Representations",
        "latents",
        dci,
        _dci_scores("dci", "DCI", "DCI {about} (Eastwood & Williams 2018), exact gradient boosting"),
        cost="minutes (100 x classes trees per factor on 10k rows)",
        seconds=35.0,
        default=False,
        zoo=False,
        baselines="on request",
    ),
    Metric(
        "dci_fast",
        "DCI estimate (HistGB)",
        "DCI",
        "an estimate of Eastwood & Williams 2018 DCI",
        "latents",
        dci_fast,
        _dci_scores("dci_fast", "DCI-est", "an estimate of DCI {about} (fast boosting; not DCI)"),
        cost="seconds (histogram gradient boosting)",
        seconds=8.0,
        baselines="never",
        caveat="estimate of DCI, HistGB",
        stands_in_for="dci",
    ),
    Metric(
        "sap",
        "Separated attribute predictability",
        "MI",
        "Kumar et al. 2018, Variational Inference of Disentangled Latent Concepts from Unlabeled Observations",
        "latents",
        sap,
        (Score("sap", "SAP", "separated attribute predictability (Kumar et al. 2018)"),),
        cost="under a second (one-feature linear SVMs)",
        seconds=0.5,
    ),
    Metric(
        "sap_continuous",
        "SAP, continuous factors",
        "MI",
        "Kumar et al. 2018 (R^2 variant)",
        "latents",
        sap_continuous,
        (Score("sap_continuous", "SAP (R²)", "SAP with squared correlations for continuous factors", shown=False),),
        cost="milliseconds (correlations)",
        seconds=0.05,
        zoo=False,
        baselines="never",
    ),
    Metric(
        "modularity",
        "Modularity",
        "MI",
        "Ridgeway & Mozer 2018, Learning Deep Disentangled Embeddings with the F-Statistic Loss",
        "latents",
        modularity,
        (Score("modularity", "Modularity", "modularity (Ridgeway & Mozer 2018)"),),
        cost="milliseconds (20-bin histograms)",
        seconds=0.05,
    ),
    Metric(
        "explicitness",
        "Explicitness",
        "MI",
        "Ridgeway & Mozer 2018",
        "latents",
        explicitness,
        (
            Score(
                "explicitness_train",
                "Explicitness train",
                "explicitness: train ROC-AUC (Ridgeway & Mozer 2018)",
                shown=False,
            ),
            Score("explicitness_test", "Explicitness", "explicitness: test ROC-AUC (Ridgeway & Mozer 2018)"),
        ),
        cost="about a second (a logistic regression per factor)",
        seconds=1.0,
    ),
    Metric(
        "infomec",
        "InfoMEC",
        "InfoMEC",
        "Hsu et al. 2023, Disentanglement via Latent Quantization",
        "latents",
        infomec,
        tuple(Score(f"infomec.{key}", label, f"{about} (Hsu et al. 2023)") for key, label, about in _INFOMEC_SCORES),
        cost="seconds (k-NN mutual information, logistic regressions)",
        seconds=1.5,
        flags=("infoe_near_zero",),
    ),
    Metric(
        "infomec_codes",
        "InfoMEC on the codes",
        "InfoMEC",
        "Hsu et al. 2023 (their discrete plug-in estimator)",
        "codes",
        infomec_codes,
        tuple(
            Score(
                f"infomec_codes.{key}",
                f"{label} (codes)",
                f"{about}, plug-in estimator on the code indices",
                shown=False,
                zoo=True,
            )
            for key, label, about in _INFOMEC_SCORES
        ),
        cost="about a second (plug-in mutual information)",
        seconds=1.0,
        default=False,
        variant_of="infomec",
        flags=("infoe_near_zero",),
    ),
    Metric(
        "med",
        "MED",
        "MED",
        "Cao et al. 2022, An Empirical Study on Disentanglement of Negative-free Contrastive Learning",
        "latents",
        med,
        (
            Score(
                "med.disentanglement",
                "MED D",
                "MED disentanglement: DCI's D on the 20-bin mutual-information importance (Cao et al. 2022)",
            ),
            Score("med.completeness", "MED C", "MED completeness: DCI's C on the mutual-information importance"),
            Score(
                "med.informativeness_train",
                "MED I train",
                "MED informativeness: train accuracy of a logistic regression per factor",
                shown=False,
            ),
            Score(
                "med.informativeness_test",
                "MED I",
                "MED informativeness: test accuracy of a logistic regression per factor",
            ),
            *(
                Score(
                    f"med.top{k}.{key}",
                    f"top-{k} MED {short}",
                    f"top-{k} MED {short}: MED's {short} over each factor's {k} most disentangled latents only",
                )
                for k in REPORTED_TOPK
                for key, short in (("disentanglement", "D"), ("completeness", "C"))
            ),
        ),
        cost="seconds (20-bin mutual information, a logistic regression per factor); other top-k with --med-topk",
        seconds=3.0,
    ),
    Metric(
        "factor_vae",
        "FactorVAE score (reference)",
        "votes",
        "Kim & Mnih 2018, Disentangling by Factorising",
        "interventions",
        factor_vae,
        _votes_scores("factor_vae", "FactorVAE ref", "FactorVAE score as disentanglement_lib computes it"),
        cost="minutes (renders and encodes every vote's images)",
        images=factor_vae_images,
        null="drawn latent rows",
    ),
    Metric(
        "factor_vae_corrected",
        "FactorVAE score (corrected argmin)",
        "votes",
        "Kim & Mnih 2018",
        "interventions",
        factor_vae_corrected,
        _votes_scores("factor_vae_corrected", "FactorVAE", "FactorVAE score, corrected argmin (Kim & Mnih 2018)"),
        cost="minutes (renders and encodes every vote's images)",
        images=factor_vae_images,
        null="drawn latent rows",
        reuses="factor_vae",
    ),
    Metric(
        "beta_vae",
        "BetaVAE score",
        "votes",
        "Higgins et al. 2017, beta-VAE",
        "interventions",
        beta_vae,
        _votes_scores("beta_vae", "BetaVAE", "BetaVAE score (Higgins et al. 2017)"),
        cost="minutes (renders and encodes two images per vote sample)",
        images=beta_vae_images,
        null="drawn latent rows",
    ),
)


def metric(name: str) -> Metric:
    """The catalogue entry called ``name`` (KeyError if none)."""
    found = {entry.name: entry for entry in CATALOGUE}
    return found[name]


def metrics_from(source: Source) -> tuple[Metric, ...]:
    """The entries of one source, in catalogue order."""
    return tuple(entry for entry in CATALOGUE if entry.source == source)


def scores(entries: Iterable[Metric] = CATALOGUE) -> tuple[Score, ...]:
    """Every score of ``entries``, in their order."""
    return tuple(score for entry in entries for score in entry.scores)


def display_order(entries: Iterable[Metric] = CATALOGUE) -> tuple[Metric, ...]:
    """``entries`` ordered by GROUPS (catalogue order within a group): how the app lists them."""
    return tuple(sorted(entries, key=lambda entry: list(GROUPS).index(entry.group)))


def score_value(result: dict[str, Any], key: str) -> float | None:
    """The number under flat dotted ``key`` (``dci.disentanglement``) in a nested result, None where
    there is none (flags and counts are not scores but are returned as stored)."""
    value: object = result
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, float | int) and not isinstance(value, bool) else None


def labels() -> dict[str, str]:
    """Flat score key -> its label, for every score."""
    return {score.key: score.label for score in scores()}


def catalogue_json() -> dict[str, Any]:
    """The catalogue as plain JSON (``GET /api/metric-catalogue``): the groups in display order,
    and every metric in display order with its scores."""

    def entry(item: Metric) -> dict[str, Any]:
        skipped = ("compute", "images", "scores", "flags")
        data = {key: value for key, value in asdict(item).items() if key not in skipped}
        return data | {"compute": item.reference, "flags": list(item.flags), "scores": [asdict(s) for s in item.scores]}

    return {
        "groups": [{"name": name, "description": about} for name, about in GROUPS.items()],
        "metrics": [entry(item) for item in display_order()],
    }
